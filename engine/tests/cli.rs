//! Bad input on the command line: a one-line error naming the flag, exit code 2.

use std::process::Command;

fn stampede(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(args)
        .env_remove("STAMPEDE_USERS")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run stampede");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Each malformed invocation exits 2 with an error that names what is wrong.
#[test]
fn bad_flags_exit_2_naming_the_flag() {
    let host = "http://127.0.0.1:9";
    let cases: &[(&[&str], &str)] = &[
        (&["run", "--host", host, "-u", "0"], "--users"),
        (
            &["run", "--host", host, "-u", "5", "--rate", "10"],
            "--rate",
        ),
        (&["run", "--host", "127.0.0.1:80"], "--host"),
        (&["run", "--host", "http://127.0.0.1:99999"], "--host"),
        (&["run", "-u", "5"], "--host"),
        (&["run", "--host", host, "-t", "ten seconds"], "--run-time"),
        (
            &["run", "--host", host, "--io-driver", "kqueue"],
            "--io-driver",
        ),
        (
            &["run", "--host", host, "--max-in-flight", "5"],
            "--max-in-flight",
        ),
        (&["run", "--host", host, "--no-such-flag"], "--no-such-flag"),
    ];
    for (args, named) in cases {
        let (code, stderr) = stampede(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains(named),
            "{args:?}: error does not name {named}: {stderr}"
        );
    }
}

/// A bad value in a config file names the file, line and key.
#[test]
fn bad_config_file_names_file_line_and_key() {
    let path = std::env::temp_dir().join(format!("stampede-cli-{}.conf", std::process::id()));
    std::fs::write(
        &path,
        "host = http://127.0.0.1:9\n# comment\nusers = many\n",
    )
    .unwrap();
    let (code, stderr) = stampede(&["run", "--config", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("line 3, key 'users'"), "{stderr}");
}
