//! `--processes N`: one machine, several stampede processes. The process the
//! user started becomes a coordinator on loopback and starts N copies of its
//! own executable as `stampede worker`; the run is then an ordinary
//! distributed run (split, common start, one merged report).
//!
//! Why: the open-file limit is per process. A container whose hard limit
//! cannot be raised (say 20 000) still holds 50 000 connections when three
//! processes hold a third each. It is Locust's `--processes` with the same
//! meaning, except that each worker process runs its own shards (threads),
//! by default the machine's cores divided among the processes.
//!
//! The workers are started in their own process group, so a Ctrl-C at the
//! terminal reaches only the coordinator, which stops them in order; they are
//! also told by the kernel (`PR_SET_PDEATHSIG`) when the coordinator dies.

use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long stopped workers get to exit before they are killed.
const EXIT_GRACE: Duration = Duration::from_secs(10);

/// Worker processes started by this process; reaped (or killed) on drop.
pub struct LocalWorkers {
    children: Vec<Child>,
}

/// What each local worker is started with.
#[derive(Debug, Clone)]
pub struct LocalSpec {
    /// Worker processes to start.
    pub processes: usize,
    /// Shards per worker process.
    pub threads: usize,
    /// `--io-driver` to pass on, if one was chosen.
    pub io_driver: Option<String>,
    /// The shared secret the coordinator expects.
    pub token: String,
}

impl LocalSpec {
    /// Shards per process when the user did not choose: the machine's cores
    /// shared out, at least one each.
    pub fn default_threads(cores: usize, processes: usize) -> usize {
        (cores / processes.max(1)).max(1)
    }
}

impl LocalWorkers {
    /// Starts `spec.processes` workers of this executable joining `coordinator`.
    pub fn start(spec: &LocalSpec, coordinator: SocketAddr) -> Result<LocalWorkers, String> {
        let exe = std::env::current_exe()
            .map_err(|e| format!("--processes: cannot find this executable: {e}"))?;
        let mut workers = LocalWorkers {
            children: Vec::with_capacity(spec.processes),
        };
        for _ in 0..spec.processes {
            let mut command = Command::new(&exe);
            command
                .arg("worker")
                .args(["--coordinator", &coordinator.to_string()])
                .args(["--threads", &spec.threads.to_string()])
                .args(["--connect-timeout", "30s"])
                .env("STAMPEDE_TOKEN", &spec.token)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .process_group(0);
            if let Some(driver) = &spec.io_driver {
                command.args(["--io-driver", driver]);
            }
            // SAFETY: prctl is async-signal-safe and touches no memory of ours.
            unsafe {
                command.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                    Ok(())
                });
            }
            let child = command
                .spawn()
                .map_err(|e| format!("--processes: cannot start {}: {e}", exe.display()))?;
            workers.children.push(child);
        }
        Ok(workers)
    }

    /// Kills every worker still running (the run did not start).
    pub fn kill(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
        }
    }

    /// Waits for every worker to exit, killing those still running after the
    /// grace period; says how many had to be killed.
    pub fn finish(&mut self) -> usize {
        let deadline = Instant::now() + EXIT_GRACE;
        let mut killed = 0;
        for child in &mut self.children {
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() >= deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        killed += 1;
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
        self.children.clear();
        killed
    }
}

impl Drop for LocalWorkers {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The coordinator's options for local workers: loopback only, a fresh
/// secret, and the run goes on if one dies.
pub fn coordinator_options(spec: &LocalSpec) -> super::coordinator::CoordinatorOptions {
    super::coordinator::CoordinatorOptions {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        expect_workers: spec.processes,
        token: Some(spec.token.clone()),
        wait_timeout: Duration::from_secs(60),
        on_loss: super::coordinator::OnWorkerLoss::Continue,
    }
}

/// The hook that starts the local workers once the coordinator listens,
/// keeping them in `slot` for [`reap`].
pub fn starter(
    spec: LocalSpec,
    slot: Arc<Mutex<Option<LocalWorkers>>>,
) -> super::coordinator::ListeningHook {
    Box::new(move |addr| {
        let started = LocalWorkers::start(&spec, addr)?;
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(started);
        Ok(())
    })
}

/// Waits for the local workers in `slot` to exit (they stop by themselves
/// once let go), killing them at once after a failed start (`failed`).
pub fn reap(slot: &Mutex<Option<LocalWorkers>>, failed: bool) {
    let started = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(mut started) = started {
        if failed {
            started.kill();
        }
        let killed = started.finish();
        if killed > 0 {
            eprintln!("warning: {killed} local worker process(es) did not exit and were killed");
        }
    }
}

/// A fresh secret for one run's local workers (they are reached over
/// loopback only, but other users of the machine should not join).
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        // No /dev/urandom: the process id and the clock are still unguessable enough
        // for a secret that lives for one run on one machine.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes[..8].copy_from_slice(&(nanos as u64).to_le_bytes());
        bytes[8..12].copy_from_slice(&std::process::id().to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cores are shared out among processes, never fewer than one shard each.
    #[test]
    fn threads_share_the_cores() {
        assert_eq!(LocalSpec::default_threads(8, 2), 4);
        assert_eq!(LocalSpec::default_threads(2, 3), 1);
        assert_eq!(LocalSpec::default_threads(2, 0), 2);
    }

    /// Tokens are 32 hex digits and differ between calls.
    #[test]
    fn tokens_are_fresh() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
