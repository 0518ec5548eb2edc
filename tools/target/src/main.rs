//! The `stampede-target` binary: parses the flags, starts the server, prints
//! `listening on ADDR` as its first stdout line, and serves until killed.

use std::io::Write as _;
use std::process::ExitCode;

use stampede_target::config::{self, Command};
use stampede_target::Target;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env_driver = std::env::var(config::IO_DRIVER_ENV).ok();
    let config = match config::parse_args(&args, env_driver.as_deref()) {
        Ok(Command::Run(config)) => config,
        Ok(Command::Help) => {
            print!("{}", config::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("stampede-target: {err}");
            return ExitCode::from(2);
        }
    };
    let target = match Target::start(config.clone()) {
        Ok(target) => target,
        Err(err) => {
            eprintln!("stampede-target: cannot serve on {}: {err}", config.listen);
            return ExitCode::FAILURE;
        }
    };
    // Tests and scripts read this exact first line to learn the port.
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "listening on {}", target.local_addr());
    let _ = stdout.flush();
    drop(stdout);
    eprintln!(
        "stampede-target: {} threads, io driver {}, {} accounts{}",
        target.threads(),
        target.io_driver(),
        config.accounts.len(),
        config.delay.map_or(String::new(), |delay| format!(
            ", delay {delay} (seed {})",
            config.delay_seed
        ))
    );
    target.wait();
    ExitCode::SUCCESS
}
