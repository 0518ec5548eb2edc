//! Distributed runs: a coordinator and worker processes on loopback against
//! stampede-target, with exact merged counts, shared test data, lost
//! workers, hostile connections and a lost coordinator.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use stampede_proto::wire::Preamble;
use stampede_tests::{bin, repo_file, serial, temp_file, TargetProcess};

const TOKEN: &str = "test-token";

/// A coordinator process, its address and its output so far.
struct Coordinator {
    child: Child,
    addr: String,
    lines: mpsc::Receiver<String>,
    /// Lines already taken from `lines` by [`Coordinator::wait_for`].
    seen: Vec<String>,
    json: std::path::PathBuf,
}

impl Coordinator {
    fn start(run_args: &[&str]) -> Coordinator {
        Coordinator::start_with(run_args, |_| {})
    }

    /// Starts a coordinator with `configure` applied to its command first.
    fn start_with(run_args: &[&str], configure: impl FnOnce(&mut Command)) -> Coordinator {
        let json = temp_file("summary.json", "");
        let _ = std::fs::remove_file(&json);
        let mut command = Command::new(bin("stampede"));
        configure(&mut command);
        let mut child = command
            .arg("coordinator")
            .args([
                "--bind",
                "127.0.0.1:0",
                "--token",
                TOKEN,
                "--only-summary",
                "--json",
            ])
            .arg(&json)
            .args(run_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start coordinator");
        let (tx, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        let addr = loop {
            let line = lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("coordinator printed no address: {seen:?}"));
            if let Some(rest) = line.strip_prefix("coordinator listening on ") {
                break rest.split(',').next().unwrap().to_string();
            }
            seen.push(line);
        };
        Coordinator {
            child,
            addr,
            lines,
            seen,
            json,
        }
    }

    /// Waits (at most `limit`) for a line of output containing `needle`.
    fn wait_for(&mut self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            let found = line.contains(needle);
            self.seen.push(line);
            if found {
                return true;
            }
        }
        false
    }

    /// Waits for the coordinator to exit; returns (exit code, all output, summary).
    fn finish(mut self, limit: Duration) -> (Option<i32>, String, Option<Value>) {
        let deadline = Instant::now() + limit;
        while self.child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let mut output = std::mem::take(&mut self.seen);
        output.extend(self.lines.try_iter());
        let json = std::fs::read_to_string(&self.json)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        (status.code(), output.join("\n"), json)
    }
}

fn worker(addr: &str, threads: &str) -> Child {
    Command::new(bin("stampede"))
        .args([
            "worker",
            "--coordinator",
            addr,
            "--token",
            TOKEN,
            "--threads",
            threads,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start worker")
}

fn wait_exit(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

fn total(summary: &Value, field: &str) -> u64 {
    summary["totals"][field].as_u64().unwrap()
}

/// One worker's row of the workers table the coordinator prints at the end.
#[derive(Debug)]
struct FinalRow {
    state: String,
    users_peak: u64,
    rps_mean: f64,
    requests: u64,
}

/// The last workers table in `output`, `workers` rows of it: the final one,
/// whose headings say its figures are over the run.
fn final_workers_table(output: &str, workers: usize) -> Vec<FinalRow> {
    let lines: Vec<&str> = output.lines().collect();
    let start = lines
        .iter()
        .rposition(|l| *l == "Workers")
        .unwrap_or_else(|| panic!("no workers table:\n{output}"));
    let heading: Vec<&str> = lines[start + 1].split_whitespace().collect();
    assert_eq!(
        heading,
        [
            "worker", "host", "cores", "state", "peak", "users", "avg", "req/s", "avg", "CPU", "%",
            "requests"
        ],
        "{output}"
    );
    // Other output (stderr's warnings) may be interleaved: keep the lines that are rows.
    let rows: Vec<FinalRow> = lines[start + 2..]
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|cells| cells.len() == 8 && cells[0].parse::<u32>().is_ok())
        .take(workers)
        .map(|cells| FinalRow {
            state: cells[3].to_string(),
            users_peak: cells[4].parse().unwrap(),
            rps_mean: cells[5].parse().unwrap(),
            requests: cells[7].parse().unwrap(),
        })
        .collect();
    assert_eq!(rows.len(), workers, "{output}");
    rows
}

/// Three workers with --iterations: the merged totals equal the target's count exactly.
#[test]
fn three_workers_merge_exact_counts() {
    let _serial = serial();
    let target = TargetProcess::start();
    let coordinator = Coordinator::start(&[
        "--expect-workers",
        "3",
        "--host",
        &target.url(),
        "-u",
        "30",
        "-n",
        "6000",
    ]);
    let mut workers: Vec<Child> = ["1", "1", "2"]
        .iter()
        .map(|t| worker(&coordinator.addr, t))
        .collect();
    let (code, output, summary) = coordinator.finish(Duration::from_secs(60));
    for w in &mut workers {
        assert!(
            wait_exit(w, Duration::from_secs(10)),
            "a worker did not exit"
        );
    }
    assert_eq!(code, Some(0), "{output}");
    let summary = summary.unwrap_or_else(|| panic!("no summary: {output}"));
    assert_eq!(total(&summary, "requests"), 6000);
    assert_eq!(total(&summary, "failures"), 0);
    assert_eq!(target.stats().0, 6000, "target's count");
    assert_eq!(
        target.stats().1,
        30,
        "one connection per user, cluster-wide"
    );
    let latency = &summary["totals"]["latency_ms"];
    let (p50, p99, max) = (
        latency["p50"].as_f64().unwrap(),
        latency["p99"].as_f64().unwrap(),
        latency["max"].as_f64().unwrap(),
    );
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{latency}");
    assert_eq!(
        summary["generator"]["threads"], 4,
        "threads are the workers' cores"
    );
    // Peak memory of the coordinator and of each of the three workers, summed.
    let processes = summary["generator"]["processes"].as_array().unwrap();
    let workers: Vec<u64> = processes
        .iter()
        .filter(|p| p["role"] == "worker" && p["max_rss_kb"].as_u64() > Some(0))
        .map(|p| p["worker"].as_u64().unwrap())
        .collect();
    assert_eq!(workers, [1, 2, 3], "{processes:?}");
    let sum: u64 = processes
        .iter()
        .map(|p| p["max_rss_kb"].as_u64().unwrap())
        .sum();
    assert_eq!(summary["generator"]["max_rss_kb_total"].as_u64(), Some(sum));
}

/// The music scenario across two workers: one login per account cluster-wide, one admin login.
#[test]
fn music_scenario_across_two_workers() {
    let _serial = serial();
    let accounts = repo_file("examples/music-target-accounts.csv");
    let target = TargetProcess::start_with(&["--accounts", accounts.to_str().unwrap()]);
    let example = repo_file("examples/music.toml");
    let args = [
        "--expect-workers",
        "2",
        "-f",
        example.to_str().unwrap(),
        "--host",
        &target.url(),
        "-u",
        "50",
        "-n",
        "120",
    ];
    let coordinator = Coordinator::start(&args);
    let mut workers: Vec<Child> = (0..2).map(|_| worker(&coordinator.addr, "1")).collect();
    let (code, output, summary) = coordinator.finish(Duration::from_secs(90));
    for w in &mut workers {
        wait_exit(w, Duration::from_secs(10));
    }
    assert_eq!(code, Some(0), "{output}");
    let stats = target.stats_json();
    for user in ["admin", "alice", "bob", "carol", "dave"] {
        assert_eq!(stats["logins"][user], 1, "{user}: {}", stats["logins"]);
    }
    assert_eq!(stats["statuses"]["404"].as_u64().unwrap_or(0), 0, "{stats}");
    let summary = summary.unwrap();
    assert_eq!(total(&summary, "failures"), 0, "{}", summary["failures"]);
    assert_eq!(
        stats["requests"].as_u64().unwrap(),
        total(&summary, "requests") + 1,
        "plus the one setup login"
    );
}

/// A worker killed mid-run is named; the run ends on time and keeps what it sent.
#[test]
fn lost_worker_is_named_and_the_run_goes_on() {
    let _serial = serial();
    let target = TargetProcess::start();
    let coordinator = Coordinator::start(&[
        "--expect-workers",
        "3",
        "--host",
        &target.url(),
        "-u",
        "6",
        "-t",
        "4s",
    ]);
    let mut workers: Vec<Child> = (0..3).map(|_| worker(&coordinator.addr, "1")).collect();
    std::thread::sleep(Duration::from_millis(2500));
    workers[1].kill().unwrap();
    let started = Instant::now();
    let (code, output, summary) = coordinator.finish(Duration::from_secs(30));
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "the run did not end on time"
    );
    for w in &mut workers {
        wait_exit(w, Duration::from_secs(10));
    }
    assert_eq!(code, Some(0), "{output}");
    assert!(
        output.contains("lost"),
        "the lost worker is named:\n{output}"
    );
    let summary = summary.expect("reports are written");
    let merged = total(&summary, "requests");
    let served = target.stats().0;
    assert!(
        merged > 0 && merged <= served,
        "merged {merged}, target {served}"
    );
    // At most the dead worker's last unsent second is missing.
    assert!(
        merged as f64 >= served as f64 * 0.6,
        "merged {merged} of {served}"
    );
}

/// Connections with a wrong token or random bytes are refused during a run
/// and the run's results are exact all the same.
#[test]
fn hostile_connections_are_refused() {
    let _serial = serial();
    let target = TargetProcess::start();
    let coordinator = Coordinator::start(&[
        "--expect-workers",
        "1",
        "--host",
        &target.url(),
        "-u",
        "4",
        // Paced by time, not by a count: the run is still going when the
        // intruders connect, however fast the machine.
        "--run-time",
        "3s",
    ]);
    let mut w = worker(&coordinator.addr, "1");
    std::thread::sleep(Duration::from_millis(800));
    // A worker of this release with another token.
    let mut bad_token = Command::new(bin("stampede"))
        .args([
            "worker",
            "--coordinator",
            &coordinator.addr,
            "--token",
            "wrong",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start worker");
    let mut junk = TcpStream::connect(&coordinator.addr).unwrap();
    junk.write_all(&[0x13, 0x37, 0x00, 0x7f, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4])
        .unwrap();
    let (code, output, summary) = coordinator.finish(Duration::from_secs(60));
    wait_exit(&mut w, Duration::from_secs(10));
    assert!(wait_exit(&mut bad_token, Duration::from_secs(10)));
    assert_eq!(code, Some(0), "{output}");
    assert!(
        output.contains("refused connection") && output.contains("wrong token"),
        "{output}"
    );
    let summary = summary.unwrap();
    assert!(total(&summary, "requests") > 0);
    assert_eq!(total(&summary, "requests"), target.stats().0);
}

/// A process's resident memory now (`VmRSS`), in KiB.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc status")
}

/// A stranger that sends `opening`, then one byte every 3 s while the
/// connection stays open; returns how long the coordinator kept it (`None`:
/// still open after 12 s).
fn drip(addr: &str, opening: &[u8]) -> Option<Duration> {
    let connected = Instant::now();
    let mut stream = TcpStream::connect(addr).unwrap();
    if stream.write_all(opening).is_err() {
        return Some(connected.elapsed());
    }
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut buf = [0u8; 256];
    // At most 4 drips (12 s), and a few reads of what the coordinator says.
    let mut drips = 0;
    for _ in 0..16 {
        match stream.read(&mut buf) {
            Ok(0) => return Some(connected.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if drips == 4 {
                    return None;
                }
                drips += 1;
                if stream.write_all(&[0]).is_err() {
                    return Some(connected.elapsed());
                }
            }
            Err(_) => return Some(connected.elapsed()),
        }
    }
    None
}

/// Before authentication a peer costs almost nothing: 32 strangers that
/// announce a large first frame and then drip a byte every 3 s grow the
/// coordinator's memory by less than 32 MiB and are each closed within
/// 6 s, while a run in progress (paced by rate and time) counts exactly.
#[test]
fn strangers_that_announce_huge_frames_and_drip_cost_almost_nothing() {
    let _serial = serial();
    let target = TargetProcess::start();
    let coordinator = Coordinator::start(&[
        "--expect-workers",
        "1",
        "--host",
        &target.url(),
        "--rate",
        "40",
        "--run-time",
        "10s",
    ]);
    let mut w = worker(&coordinator.addr, "1");
    // The run is under way (it lasts 10 s) before the strangers come.
    std::thread::sleep(Duration::from_millis(1500));
    let pid = coordinator.child.id();
    let rss_before_kb = rss_kb(pid);
    // Half announce 64 MiB; half open as a worker would (a valid preamble,
    // then a handshake message of the right size) and trickle it, so only
    // the handshake's deadline can end them.
    let announce_64_mib = (64u32 << 20).to_le_bytes().to_vec();
    let mut like_a_worker = Preamble::ours(true).encode().to_vec();
    like_a_worker.extend_from_slice(&48u16.to_be_bytes());
    let strangers: Vec<_> = (0..32)
        .map(|i| {
            let addr = coordinator.addr.clone();
            let opening = if i % 2 == 0 {
                announce_64_mib.clone()
            } else {
                like_a_worker.clone()
            };
            std::thread::spawn(move || drip(&addr, &opening))
        })
        .collect();
    let mut rss_max_kb = rss_before_kb;
    let watched = Instant::now();
    while watched.elapsed() < Duration::from_secs(7) {
        rss_max_kb = rss_max_kb.max(rss_kb(pid));
        std::thread::sleep(Duration::from_millis(100));
    }
    let kept: Vec<Option<Duration>> = strangers.into_iter().map(|s| s.join().unwrap()).collect();
    let (code, output, summary) = coordinator.finish(Duration::from_secs(60));
    wait_exit(&mut w, Duration::from_secs(10));
    let grown_mib = rss_max_kb.saturating_sub(rss_before_kb) as f64 / 1024.0;
    eprintln!("coordinator RSS grew {grown_mib:.1} MiB; strangers kept {kept:?}");
    assert!(grown_mib < 32.0, "the coordinator grew {grown_mib:.1} MiB");
    for (i, time) in kept.iter().enumerate() {
        assert!(
            time.is_some_and(|t| t < Duration::from_secs(6)),
            "stranger {i} was kept {time:?}"
        );
    }
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("refused connection"), "{output}");
    let summary = summary.unwrap();
    assert!(total(&summary, "requests") > 0);
    assert_eq!(total(&summary, "requests"), target.stats().0);
}

/// CPU time (user + system) a process has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf reads a constant of the system.
    let per_s = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / per_s)
}

/// A coordinator out of descriptors backs off instead of spinning on
/// accept: with 40 descriptors and 60 connections waiting, it uses under a
/// fifth of a core, says so once, and a worker that comes after the
/// strangers left still runs an exact test.
#[test]
fn accept_backs_off_when_descriptors_run_out() {
    use std::os::unix::process::CommandExt;
    let _serial = serial();
    let target = TargetProcess::start();
    let coordinator = Coordinator::start_with(
        &[
            "--expect-workers",
            "1",
            "--host",
            &target.url(),
            "--rate",
            "20",
            "--run-time",
            "2s",
        ],
        |command| {
            // SAFETY: setrlimit is async-signal-safe and touches no memory of ours.
            unsafe {
                command.pre_exec(|| {
                    let limit = libc::rlimit {
                        rlim_cur: 40,
                        rlim_max: 40,
                    };
                    libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
                    Ok(())
                });
            }
        },
    );
    let pid = coordinator.child.id();
    let strangers: Vec<TcpStream> = (0..60)
        .map(|_| TcpStream::connect(&coordinator.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let (cpu_before, watched) = (cpu_time(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(3));
    let busy = (cpu_time(pid) - cpu_before).as_secs_f64() / watched.elapsed().as_secs_f64();
    drop(strangers);
    let mut w = worker(&coordinator.addr, "1");
    let (code, output, summary) = coordinator.finish(Duration::from_secs(60));
    wait_exit(&mut w, Duration::from_secs(10));
    eprintln!(
        "coordinator out of descriptors: {:.0}% of a core",
        busy * 100.0
    );
    assert!(busy < 0.2, "{:.0}% of a core:\n{output}", busy * 100.0);
    let said = output
        .lines()
        .filter(|l| l.contains("cannot accept connections"))
        .count();
    assert!((1..=3).contains(&said), "{output}");
    assert_eq!(code, Some(0), "{output}");
    let summary = summary.unwrap();
    assert!(total(&summary, "requests") > 0);
    assert_eq!(total(&summary, "requests"), target.stats().0);
}

/// A loopback proxy for one connection that keeps every byte it relays.
struct Recorder {
    addr: String,
    /// Worker to coordinator, and coordinator to worker.
    sent: [std::sync::Arc<std::sync::Mutex<Vec<u8>>>; 2],
}

impl Recorder {
    fn start(upstream: &str) -> Recorder {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let sent: [std::sync::Arc<std::sync::Mutex<Vec<u8>>>; 2] = Default::default();
        let logs = sent.clone();
        let upstream = upstream.to_string();
        std::thread::spawn(move || {
            let (worker, _) = listener.accept().unwrap();
            let coordinator = TcpStream::connect(&upstream).unwrap();
            let directions = [
                (
                    worker.try_clone().unwrap(),
                    coordinator.try_clone().unwrap(),
                ),
                (coordinator, worker),
            ];
            for ((mut from, mut to), log) in directions.into_iter().zip(logs) {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    // Until either side closes.
                    while let Ok(n @ 1..) = from.read(&mut buf) {
                        log.lock().unwrap().extend_from_slice(&buf[..n]);
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Recorder { addr, sent }
    }

    /// Every byte relayed so far, one direction: 0 from the worker, 1 to it.
    fn bytes(&self, direction: usize) -> Vec<u8> {
        self.sent[direction].lock().unwrap().clone()
    }
}

/// The channel is sealed: relayed through a recording proxy, a whole run
/// (setup values, feeder rows, --header values, the scenario) leaves none
/// of its secrets on the wire, nor the token; and the worker's recorded
/// bytes replayed to the coordinator are refused (closed, logged, no join).
#[test]
fn the_channel_is_sealed_and_a_recorded_session_cannot_be_replayed() {
    let _serial = serial();
    let accounts = repo_file("examples/music-target-accounts.csv");
    let target =
        TargetProcess::start_with(&["--accounts", accounts.to_str().unwrap(), "--count-paths"]);
    let scenario = temp_file(
        "sealed.toml",
        r#"
[feeders.fields]
file = "fields.csv"
mode = "cycle"

[[setup]]
name = "admin login"
method = "POST"
path = "/auth/login"
json = { username = "admin", password = "admin-pw" }
check = { status = 200 }
extract = { admin_token = "json:/token" }

[[user]]
name = "u"
feeder = "fields"
wait = "between(0.05, 0.1)"
[[user.task]]
name = "t"
[[user.task.step]]
path = "/t/${admin_token}/${field}"
name = "/t"
"#,
    );
    std::fs::write(
        scenario.parent().unwrap().join("fields.csv"),
        "field\nfeeder-field-4417\n",
    )
    .unwrap();
    let mut coordinator = Coordinator::start(&[
        "--expect-workers",
        "2",
        "-f",
        scenario.to_str().unwrap(),
        "--host",
        &target.url(),
        "-u",
        "2",
        "-t",
        "3s",
        "--header",
        "X-Secret: header-value-5521",
    ]);
    let recorder = Recorder::start(&coordinator.addr);
    let mut first = worker(&recorder.addr, "1");
    assert!(coordinator.wait_for("worker 1 joined", Duration::from_secs(20)));
    // The worker's recorded bytes, played again to the same coordinator.
    let mut replay = TcpStream::connect(&coordinator.addr).unwrap();
    let replay_from = replay.local_addr().unwrap().to_string();
    replay.write_all(&recorder.bytes(0)).unwrap();
    replay
        .set_read_timeout(Some(Duration::from_secs(8)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let replay_sent = Instant::now();
    // The coordinator answers the handshake, then closes: bounded reads.
    let closed = (0..8).any(|_| !matches!(replay.read(&mut buf), Ok(1..)));
    assert!(
        closed && replay_sent.elapsed() < Duration::from_secs(6),
        "the replay was kept {:?}",
        replay_sent.elapsed()
    );
    assert!(
        coordinator.wait_for(
            &format!("refused connection from {replay_from}"),
            Duration::from_secs(10)
        ),
        "{:?}",
        coordinator.seen
    );
    let mut second = worker(&coordinator.addr, "1");
    let (code, output, summary) = coordinator.finish(Duration::from_secs(60));
    wait_exit(&mut first, Duration::from_secs(10));
    wait_exit(&mut second, Duration::from_secs(10));
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("replayed or forged"), "{output}");
    assert_eq!(output.matches(" joined from ").count(), 2, "{output}");
    let summary = summary.unwrap();
    let stats = target.stats_json();
    assert_eq!(
        total(&summary, "requests") + 1,
        stats["requests"].as_u64().unwrap(),
        "the run's requests and the setup's login"
    );
    // The setup value, as the target saw it in the requests' paths.
    let paths: Vec<&String> = stats["paths"].as_object().unwrap().keys().collect();
    let path = paths
        .iter()
        .find(|p| p.starts_with("/t/"))
        .unwrap_or_else(|| panic!("{paths:?}"));
    let setup_value = path
        .strip_prefix("/t/")
        .and_then(|rest| rest.strip_suffix("/feeder-field-4417"))
        .unwrap_or_else(|| panic!("{path}"));
    let recorded = [recorder.bytes(0), recorder.bytes(1)].concat();
    assert!(recorded.len() > 2_000, "{} bytes recorded", recorded.len());
    for secret in [
        TOKEN,
        setup_value,
        "feeder-field-4417",
        "header-value-5521",
        "admin-pw",
    ] {
        let found = recorded
            .windows(secret.len())
            .any(|w| w == secret.as_bytes());
        assert!(!found, "'{secret}' is readable on the wire");
    }
}

/// A worker with extra arguments and environment, its stderr kept.
fn worker_with(addr: &str, extra: &[&str], env: &[(&str, &str)]) -> Child {
    Command::new(bin("stampede"))
        .args(["worker", "--coordinator", addr, "--token", TOKEN])
        .args(["--threads", "1"])
        .args(extra)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start worker")
}

/// Waits for a worker started by [`worker_with`]; returns its stderr.
fn worker_stderr(mut child: Child) -> String {
    wait_exit(&mut child, Duration::from_secs(15));
    let output = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `${env.NAME}` is the coordinator's value: a worker never reads its own
/// environment for it (a fake coordinator could otherwise copy a worker's
/// secrets into requests), and needs none to run the scenario.
#[test]
fn env_placeholders_take_the_coordinators_values() {
    let _serial = serial();
    let target = TargetProcess::start_with(&["--count-paths"]);
    let scenario = temp_file(
        "env.toml",
        "[[user]]\nname = \"u\"\nwait = \"between(0.05, 0.1)\"\n[[user.task]]\nname = \"t\"\n\
         [[user.task.step]]\npath = \"/e/${env.STAMPEDE_TEST_PLACE}\"\n",
    );
    let coordinator = Coordinator::start_with(
        &[
            "--expect-workers",
            "1",
            "-f",
            scenario.to_str().unwrap(),
            "--host",
            &target.url(),
            "-u",
            "2",
            "-t",
            "2s",
        ],
        |command| {
            command.env("STAMPEDE_TEST_PLACE", "from-the-coordinator");
        },
    );
    let w = worker_with(
        &coordinator.addr,
        &[],
        &[("STAMPEDE_TEST_PLACE", "from-the-worker")],
    );
    let (code, output, summary) = coordinator.finish(Duration::from_secs(60));
    let stderr = worker_stderr(w);
    assert_eq!(code, Some(0), "{output}\n{stderr}");
    let summary = summary.unwrap();
    let stats = target.stats_json();
    let paths: Vec<&String> = stats["paths"].as_object().unwrap().keys().collect();
    assert_eq!(paths, ["/e/from-the-coordinator"], "{stderr}");
    assert!(total(&summary, "requests") > 0);
    assert_eq!(total(&summary, "requests"), target.stats().0);
}

/// A worker's TLS trust is its own: the coordinator's --insecure is
/// ignored (and the worker says so) unless the worker passes
/// --accept-coordinator-tls, in which case it warns that certificates are
/// not verified and the run against a self-signed target counts exactly.
#[test]
fn coordinator_tls_settings_apply_only_when_the_worker_accepts_them() {
    let _serial = serial();
    let cert = temp_file("target.pem", "");
    let target = TargetProcess::start_with(&[
        "--tls-self-signed",
        "--tls-cert-out",
        cert.to_str().unwrap(),
    ]);
    let url = format!("https://{}", target.addr);
    let run = |worker_args: &[&str]| {
        let coordinator = Coordinator::start(&[
            "--expect-workers",
            "1",
            "--host",
            &url,
            "--insecure",
            "-u",
            "1",
            "-t",
            "2s",
        ]);
        let w = worker_with(&coordinator.addr, worker_args, &[]);
        let (code, output, summary) = coordinator.finish(Duration::from_secs(60));
        (code, output, summary, worker_stderr(w))
    };

    let (code, output, summary, stderr) = run(&[]);
    assert!(
        stderr.contains("ignoring the coordinator's --insecure"),
        "{stderr}"
    );
    assert_eq!(target.stats().0, 0, "no request got past the TLS handshake");
    let summary = summary.unwrap_or_else(|| panic!("{code:?} {output}"));
    assert!(total(&summary, "failures") > 0, "{output}");

    let (code, output, summary, stderr) = run(&["--accept-coordinator-tls"]);
    assert!(
        stderr.contains("the coordinator turned on --insecure"),
        "{stderr}"
    );
    assert_eq!(code, Some(0), "{output}");
    let summary = summary.unwrap();
    assert_eq!(total(&summary, "failures"), 0, "{output}");
    assert!(total(&summary, "requests") > 0);
    assert_eq!(total(&summary, "requests"), target.stats().0);
}

/// A peer that joins properly (handshake, hello, welcome) as `hostname`,
/// then says it is alive every second for 45 s and never reads again.
fn deaf_peer(addr: &str, hostname: &str) -> std::thread::JoinHandle<()> {
    use stampede_engine::coord::channel;
    use stampede_proto::wire::{Hello, Message, PROTOCOL_VERSION};
    let mut stream = TcpStream::connect(addr).unwrap();
    // A small receive buffer, as on a busy machine: what the coordinator
    // writes piles up on its side, whatever this kernel's autotuning allows.
    let bytes: libc::c_int = 64 * 1024;
    // SAFETY: setsockopt reads the c_int we pass, on a socket we own.
    unsafe {
        use std::os::fd::AsRawFd;
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&bytes as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    let hostname = hostname.to_string();
    std::thread::spawn(move || {
        let channel::Channel { mut seal, mut open } =
            channel::initiate(&mut stream, Some(TOKEN)).unwrap();
        let hello = Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            cores: 1,
            hostname,
        });
        seal.write(&mut stream, &hello).unwrap();
        assert!(matches!(
            open.read(&mut stream),
            Ok(Message::Welcome { .. })
        ));
        for _ in 0..45 {
            if seal.write(&mut stream, &Message::Heartbeat).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    })
}

/// A worker that stops reading cannot hang the coordinator: with a 16 MiB
/// feeder to send, a peer that joined and then never reads (but keeps
/// saying it is alive) is named as lost and the run ends within 40 s, the
/// real worker's requests counted exactly.
#[test]
fn a_worker_that_stops_reading_is_lost_not_waited_for() {
    let _serial = serial();
    let target = TargetProcess::start();
    let scenario = temp_file(
        "deaf.toml",
        "[feeders.rows]\nfile = \"rows.csv\"\nmode = \"cycle\"\n\n[[user]]\nname = \"u\"\n\
         feeder = \"rows\"\n[[user.task]]\nname = \"t\"\n[[user.task.step]]\npath = \"/\"\n",
    );
    let mut rows = String::from("value\n");
    // 16 MiB of rows, more than both sockets' buffers hold.
    let mut i = 0u32;
    while rows.len() < 16 << 20 {
        rows.push_str(&format!("row-{i:08}-{}\n", "x".repeat(100)));
        i += 1;
    }
    std::fs::write(scenario.parent().unwrap().join("rows.csv"), rows).unwrap();
    let started = Instant::now();
    let coordinator = Coordinator::start(&[
        "--expect-workers",
        "2",
        "-f",
        scenario.to_str().unwrap(),
        "--host",
        &target.url(),
        "--rate",
        "20",
        "--run-time",
        "3s",
    ]);
    let deaf = deaf_peer(&coordinator.addr, "deaf-peer");
    // The deaf peer joins first (it is worker 1).
    std::thread::sleep(Duration::from_millis(500));
    let mut w = worker(&coordinator.addr, "1");
    let (code, output, summary) = coordinator.finish(Duration::from_secs(60));
    let took = started.elapsed();
    wait_exit(&mut w, Duration::from_secs(10));
    drop(deaf);
    eprintln!("the run with a deaf peer took {took:?}:\n{output}");
    assert!(
        took < Duration::from_secs(40),
        "the run took {took:?}:\n{output}"
    );
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("worker 1 (deaf-peer) lost"), "{output}");
    let summary = summary.unwrap();
    assert!(total(&summary, "requests") > 0, "{output}");
    assert_eq!(total(&summary, "requests"), target.stats().0);
}

/// A worker that cannot reach its coordinator says so at once (not
/// silently) and gives up with exit 1 after --connect-timeout.
#[test]
fn an_unreachable_coordinator_is_reported_and_given_up() {
    let _serial = serial();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let out = Command::new(bin("stampede"))
        .args(["worker", "--coordinator", &format!("127.0.0.1:{port}")])
        .args(["--token", TOKEN, "--connect-timeout", "2s"])
        .stdin(Stdio::null())
        .output()
        .expect("run worker");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let reports = stderr
        .lines()
        .filter(|l| l.starts_with("worker: cannot reach the coordinator"))
        .count();
    assert_eq!(reports, 1, "one report within the first 10 s:\n{stderr}");
    assert!(
        stderr.contains("error: cannot reach the coordinator"),
        "{stderr}"
    );
}

/// Workers stop within 5 s when their coordinator is killed.
#[test]
fn workers_stop_when_the_coordinator_dies() {
    let _serial = serial();
    let target = TargetProcess::start();
    let mut coordinator = Coordinator::start(&[
        "--expect-workers",
        "2",
        "--host",
        &target.url(),
        "-u",
        "4",
        "-t",
        "60s",
    ]);
    let mut workers: Vec<Child> = (0..2).map(|_| worker(&coordinator.addr, "1")).collect();
    std::thread::sleep(Duration::from_millis(2000));
    coordinator.child.kill().unwrap();
    let _ = coordinator.child.wait();
    let killed = Instant::now();
    for w in &mut workers {
        assert!(
            wait_exit(w, Duration::from_secs(8)),
            "a worker kept running"
        );
    }
    assert!(
        killed.elapsed() < Duration::from_secs(6),
        "workers took {:?}",
        killed.elapsed()
    );
}

/// Locust-style config files (`master = true`, `worker = true`) make
/// `stampede run --config` a coordinator and a worker.
#[test]
fn locust_config_files_start_coordinator_and_worker() {
    let _serial = serial();
    let target = TargetProcess::start();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let master = temp_file(
        "master.conf",
        &format!(
            "# Locust master.conf\nmaster = true\nexpect-workers = 1\nmaster-bind-host = 127.0.0.1\nmaster-bind-port = {port}\n\
             host = {}\nusers = 3\niterations = 900\nheadless = true\nonly-summary = true\n",
            target.url()
        ),
    );
    let worker_conf = temp_file(
        "worker.conf",
        &format!("worker = true\nmaster-host = 127.0.0.1\nmaster-port = {port}\n"),
    );
    let json = temp_file("summary.json", "");
    let mut coordinator = Command::new(bin("stampede"))
        .args([
            "run",
            "--config",
            master.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ])
        .env("STAMPEDE_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut worker = Command::new(bin("stampede"))
        .args(["run", "--config", worker_conf.to_str().unwrap()])
        .env("STAMPEDE_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_exit(&mut coordinator, Duration::from_secs(60)),
        "coordinator did not finish"
    );
    assert!(
        wait_exit(&mut worker, Duration::from_secs(10)),
        "worker did not finish"
    );
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(total(&summary, "requests"), 900);
    assert_eq!(target.stats().0, 900);
}

/// A config file with a Locust master's `expect-workers` but no `master = true`
/// is a plain run: it says, naming the file line, that the key is ignored,
/// waits for no worker, and sends its load itself (the target counts it).
#[test]
fn expect_workers_without_a_coordinator_is_warned_about() {
    let _serial = serial();
    let target = TargetProcess::start();
    let conf = temp_file(
        "expect-only.conf",
        &format!(
            "host = {}\nusers = 2\niterations = 300\nexpect-workers = 3\n",
            target.url()
        ),
    );
    let run = stampede_tests::stampede(
        &["run", "--config", conf.to_str().unwrap(), "--threads", "1"],
        Duration::from_secs(30),
    );
    assert!(run.status.success(), "{}", run.stderr);
    let warning = format!(
        "warning: {}, line 4, key 'expect-workers': only a coordinator reads it",
        conf.display()
    );
    assert!(run.stderr.contains(&warning), "{}", run.stderr);
    assert_eq!(run.total("requests"), 300);
    assert_eq!(target.stats().0, 300, "the run sent its load itself");
}

/// A load shape is split over the workers: the cluster runs the stages' users, not one copy per worker.
#[test]
fn stages_are_split_over_workers() {
    let _serial = serial();
    let target = TargetProcess::start();
    let coordinator = Coordinator::start(&[
        "--expect-workers",
        "2",
        "--host",
        &target.url(),
        "--stages",
        "1s:6,2s:6",
    ]);
    let mut workers: Vec<Child> = (0..2).map(|_| worker(&coordinator.addr, "1")).collect();
    let (code, output, summary) = coordinator.finish(Duration::from_secs(30));
    for w in &mut workers {
        wait_exit(w, Duration::from_secs(10));
    }
    assert_eq!(code, Some(0), "{output}");
    let summary = summary.unwrap();
    let peak = summary["timeseries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["users"].as_u64().unwrap())
        .max()
        .unwrap();
    assert_eq!(peak, 6, "cluster-wide users at the peak");
    assert_eq!(target.stats().1, 6, "one connection per user");
    assert_eq!(target.stats().0, total(&summary, "requests"));
    // The final table: each worker's own figures over the run, not zeros.
    let rows = final_workers_table(&output, 2);
    for row in &rows {
        assert_eq!(row.state, "done", "{rows:?}");
        assert_eq!(
            row.users_peak, 3,
            "each worker ran half the users: {rows:?}"
        );
        assert!(row.requests > 0 && row.rps_mean > 0.0, "{rows:?}");
    }
    let requests: u64 = rows.iter().map(|r| r.requests).sum();
    assert_eq!(
        requests,
        target.stats().0,
        "the workers' requests are the target's"
    );
}

/// Ctrl-C on the coordinator stops every worker gracefully and still writes
/// every report, with the workers table in the console and the HTML.
#[test]
fn ctrl_c_on_the_coordinator_stops_workers_and_writes_reports() {
    let _serial = serial();
    let target = TargetProcess::start();
    let html = temp_file("report.html", "");
    let coordinator = Coordinator::start(&[
        "--expect-workers",
        "2",
        "--host",
        &target.url(),
        "-u",
        "4",
        "-t",
        "60s",
        "--html",
        html.to_str().unwrap(),
    ]);
    let mut workers: Vec<Child> = (0..2).map(|_| worker(&coordinator.addr, "1")).collect();
    std::thread::sleep(Duration::from_millis(2500));
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(coordinator.child.id() as i32, libc::SIGINT) };
    let started = Instant::now();
    let (code, output, summary) = coordinator.finish(Duration::from_secs(30));
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "stop took {:?}",
        started.elapsed()
    );
    for w in &mut workers {
        assert!(
            wait_exit(w, Duration::from_secs(10)),
            "a worker kept running"
        );
    }
    assert_eq!(code, Some(0), "{output}");
    let summary = summary.expect("the JSON is written after Ctrl-C");
    assert_eq!(
        target.stats().0,
        total(&summary, "requests"),
        "graceful: every request sent is counted"
    );
    // The final table: each worker's peak users and average rate over the
    // run (not the zeros of a stopped worker), its requests adding up to the
    // target's count.
    let rows = final_workers_table(&output, 2);
    for row in &rows {
        assert_eq!(row.state, "done", "{rows:?}");
        assert_eq!(
            row.users_peak, 2,
            "each worker ran half the users: {rows:?}"
        );
        assert!(row.requests > 0 && row.rps_mean > 0.0, "{rows:?}");
    }
    let requests: u64 = rows.iter().map(|r| r.requests).sum();
    assert_eq!(
        requests,
        target.stats().0,
        "the workers' requests are the target's"
    );
    // Each average is over the time that worker ran, about the run's length:
    // together they are about the run's own average (the run's duration also
    // holds the wait for the workers' last words, hence the slack).
    let rps_sum: f64 = rows.iter().map(|r| r.rps_mean).sum();
    let rps = summary["totals"]["rps"].as_f64().unwrap();
    assert!(
        (rps_sum - rps).abs() <= 0.3 * rps,
        "workers' averages {rps_sum:.1} req/s, run's {rps:.1}: {rows:?}"
    );
    let page = std::fs::read_to_string(&html).expect("the HTML is written");
    assert!(page.contains("<section id=\"workers\">"));
    assert!(
        page.contains("<th>Peak users</th><th>Average req/s</th><th>Average CPU %</th>"),
        "{page}"
    );
}

/// --on-worker-loss abort stops the run when a worker dies; the reports are still written.
#[test]
fn worker_loss_can_abort_the_run() {
    let _serial = serial();
    let target = TargetProcess::start();
    let coordinator = Coordinator::start(&[
        "--expect-workers",
        "2",
        "--host",
        &target.url(),
        "-u",
        "4",
        "-t",
        "60s",
        "--on-worker-loss",
        "abort",
    ]);
    let mut workers: Vec<Child> = (0..2).map(|_| worker(&coordinator.addr, "1")).collect();
    std::thread::sleep(Duration::from_millis(2000));
    workers[0].kill().unwrap();
    let started = Instant::now();
    let (code, output, summary) = coordinator.finish(Duration::from_secs(30));
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "abort took {:?}",
        started.elapsed()
    );
    for w in &mut workers {
        wait_exit(w, Duration::from_secs(10));
    }
    assert_eq!(code, Some(1), "{output}");
    assert!(
        output.contains("lost") && output.contains("--on-worker-loss abort"),
        "{output}"
    );
    assert!(total(&summary.expect("reports are written"), "requests") > 0);
}

/// --on-worker-loss rebalance gives a lost worker's users to the others.
#[test]
fn worker_loss_can_rebalance_the_load() {
    let _serial = serial();
    let target = TargetProcess::start();
    let coordinator = Coordinator::start(&[
        "--expect-workers",
        "2",
        "--host",
        &target.url(),
        "-u",
        "4",
        "-t",
        "5s",
        "--on-worker-loss",
        "rebalance",
    ]);
    let mut workers: Vec<Child> = (0..2).map(|_| worker(&coordinator.addr, "1")).collect();
    std::thread::sleep(Duration::from_millis(1500));
    workers[0].kill().unwrap();
    let (code, output, _) = coordinator.finish(Duration::from_secs(30));
    for w in &mut workers {
        wait_exit(w, Duration::from_secs(10));
    }
    assert_eq!(code, Some(0), "{output}");
    assert!(
        output.contains("rebalanced over the 1 remaining workers"),
        "{output}"
    );
    // 2 + 2 users at first; the survivor then runs all 4, opening 2 more connections.
    assert_eq!(target.stats().1, 6, "{output}");
}

/// The worker processes `stampede run --processes N` started, read from /proc.
fn children_of(pid: u32) -> Vec<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("read /proc tasks");
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// `--processes 2`: one command starts two local workers; `-n` stays exact
/// over them and the target counts it; the workers are gone afterwards.
/// Ctrl-C on the command stops the workers and still writes the reports,
/// with the target's count.
#[test]
fn processes_flag_runs_local_workers_exactly_and_stops_on_ctrl_c() {
    let _serial = serial();
    let target = TargetProcess::start();
    let url = target.url();
    let common = ["run", "--host", &url, "--processes", "2", "--threads", "1"];
    let exact = [&common[..], &["-u", "6", "-n", "3000"]].concat();
    let run = stampede_tests::stampede(&exact, Duration::from_secs(60));
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(
        (run.total("requests"), run.total("failures")),
        (3000, 0),
        "{}",
        run.stdout
    );
    assert_eq!(
        target.stats(),
        (3000, 6),
        "the target counted every request"
    );
    assert_eq!(
        run.summary()["generator"]["io_driver"],
        "distributed (2 workers)"
    );

    let long = [&common[..], &["-u", "4", "-t", "60s"]].concat();
    let started = Instant::now();
    let (child, json) = stampede_tests::spawn_stampede(&long);
    let pid = child.id();
    let mut workers = Vec::new();
    while workers.len() < 2 && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
        workers = children_of(pid);
    }
    assert_eq!(workers.len(), 2, "two worker processes: {workers:?}");
    std::thread::sleep(Duration::from_millis(2500));
    // Each process's peak memory so far, as the kernel counts it.
    let peak_kb: Vec<u64> = std::iter::once(pid)
        .chain(workers.iter().copied())
        .map(peak_rss_kb)
        .collect();
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let signalled = Instant::now();
    let run = stampede_tests::wait_stampede(child, json, started, Duration::from_secs(40));
    assert!(run.status.success(), "{}", run.stderr);
    assert!(
        signalled.elapsed() < Duration::from_secs(15),
        "stop took {:?}",
        signalled.elapsed()
    );
    let before = 3000;
    assert!(run.total("requests") > 0, "{}", run.stdout);
    assert_eq!(
        target.stats().0 - before,
        run.total("requests"),
        "graceful: every request sent is counted"
    );
    for worker in workers {
        assert!(
            !std::path::Path::new(&format!("/proc/{worker}")).exists(),
            "worker {worker} still exists"
        );
    }
    // Memory: the coordinator's own, each worker's, and the sum. A peak only
    // grows, so each is about what the kernel showed before the stop or
    // more (getrusage and /proc count pages a little apart: 10% slack).
    let generator = &run.summary()["generator"];
    let processes = generator["processes"].as_array().unwrap();
    let roles: Vec<(&str, Option<u64>)> = processes
        .iter()
        .map(|p| (p["role"].as_str().unwrap(), p["worker"].as_u64()))
        .collect();
    assert_eq!(
        roles,
        [
            ("coordinator", None),
            ("worker", Some(1)),
            ("worker", Some(2))
        ],
        "{generator}"
    );
    let kb: Vec<u64> = processes
        .iter()
        .map(|p| p["max_rss_kb"].as_u64().unwrap())
        .collect();
    assert_eq!(generator["max_rss_kb"].as_u64(), Some(kb[0]));
    assert_eq!(
        generator["max_rss_kb_total"].as_u64(),
        Some(kb.iter().sum::<u64>())
    );
    let about = |reported: u64, kernel: u64| {
        let (reported, kernel) = (reported as f64, kernel as f64);
        (0.9 * kernel..=2.0 * kernel).contains(&reported)
    };
    assert!(
        about(kb[0], peak_kb[0]),
        "coordinator {kb:?} vs {peak_kb:?}"
    );
    assert!(
        about(kb[1] + kb[2], peak_kb[1] + peak_kb[2]),
        "workers {kb:?} vs {peak_kb:?}"
    );
    assert!(
        run.stdout.contains(&format!(
            "max RSS {:.1} MiB in all (coordinator {:.1} MiB, worker 1 {:.1} MiB, worker 2 {:.1} MiB)",
            kb.iter().sum::<u64>() as f64 / 1024.0,
            kb[0] as f64 / 1024.0,
            kb[1] as f64 / 1024.0,
            kb[2] as f64 / 1024.0
        )),
        "{}",
        run.stdout
    );
}

/// A process's peak resident memory so far (`VmHWM`), in KiB.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc status")
}

/// `--processes` with a bad count, with a coordinator, or with a capacity
/// search is one clear line and exit 2, before anything starts.
#[test]
fn processes_flag_bad_uses_are_refused() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["run", "--processes", "0"],
            "--processes: '0' is not a process count",
        ),
        (
            &["run", "--processes", "many"],
            "--processes: 'many' is not a process count",
        ),
        (
            &["coordinator", "--expect-workers", "1", "--processes", "2"],
            "--processes: a coordinator waits for workers started elsewhere",
        ),
        (
            &["capacity", "--slo", "p95<1s", "--processes", "2"],
            "--processes: capacity searches run in one process",
        ),
    ];
    for (args, expected) in cases {
        let all = [args, &["--host", "http://127.0.0.1:9"]].concat();
        let run = stampede_tests::stampede(&all, Duration::from_secs(20));
        let stderr = run.stderr.trim_end();
        assert_eq!(run.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
