//! Custom messages travel coordinator -> worker -> coordinator through the
//! library API, during a real (in-process) distributed run; and a worker
//! facing a stand-in coordinator refuses what it must not run.

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stampede_engine::config::{RunConfig, Settings};
use stampede_engine::coord::channel;
use stampede_engine::coord::coordinator::{
    self, CoordinatorHandler, CoordinatorHooks, CoordinatorOptions,
};
use stampede_engine::coord::worker::{self, WorkerHandler, WorkerOptions};
use stampede_engine::demo;
use stampede_engine::run::control::RunHooks;
use stampede_engine::scenario::Plan;
use stampede_proto::wire::{FeederRows, Message, Prepare};

#[test]
fn custom_messages_round_trip() {
    let target = demo::start_target(1).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");

    let mut handlers: BTreeMap<String, WorkerHandler> = BTreeMap::new();
    handlers.insert(
        "ping".into(),
        Box::new(|link: &worker::CoordinatorLink, data: &[u8]| {
            let reversed: Vec<u8> = data.iter().rev().copied().collect();
            assert!(link.send("pong", &reversed));
        }),
    );
    let options = WorkerOptions {
        coordinator: bind.clone(),
        token: Some("t".into()),
        threads: Some(1),
        io_driver: Some("epoll".into()),
        connect_timeout: Duration::from_secs(20),
        tls: Vec::new(),
        accept_coordinator_tls: false,
    };
    let worker = std::thread::spawn(move || {
        worker::run(&options, handlers, Arc::new(AtomicBool::new(false)))
    });

    let mut settings = Settings::default();
    settings.flag("host", format!("http://{}", target.local_addr()));
    settings.flag("users", "2");
    settings.flag("iterations", "3000");
    settings.flag("threads", "1");
    let config = RunConfig::from_settings(&settings, 1).unwrap();
    let plan = Plan::single_request(&config);
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    let pong: CoordinatorHandler =
        Box::new(move |_links, worker, data| sink.lock().unwrap().push((worker, data.to_vec())));
    let mut hooks = CoordinatorHooks {
        handlers: BTreeMap::from([("pong".to_string(), pong)]),
        on_start: Some(Box::new(|links| links.broadcast("ping", b"hello"))),
        ..CoordinatorHooks::default()
    };
    let options = CoordinatorOptions {
        bind: bind.parse().unwrap(),
        expect_workers: 1,
        token: Some("t".into()),
        wait_timeout: Duration::from_secs(20),
        on_loss: Default::default(),
    };
    let stop = AtomicBool::new(false);
    let mut run_hooks = RunHooks {
        stop: &stop,
        changes: None,
        progress: &mut |_, _, _| {},
        on_snapshot: &mut |_| {},
        observer: None,
    };
    let outcome = coordinator::run(
        &config,
        &settings,
        None,
        &plan,
        &options,
        &mut hooks,
        &mut run_hooks,
    )
    .unwrap();
    let report = worker.join().unwrap().unwrap();
    assert_eq!(outcome.aggregator.total().requests, 3000);
    assert_eq!(report.requests, 3000);
    assert_eq!(
        *received.lock().unwrap(),
        vec![(report.worker_id, b"olleh".to_vec())]
    );
}

/// What a worker said to a stand-in coordinator, and how long it took.
struct Heard {
    /// Every message but heartbeats, in order.
    messages: Vec<Message>,
    elapsed: Duration,
}

/// A stand-in coordinator on loopback (token "t"): takes one worker in,
/// sends it `prepare`, answers its Ready with a start `start_after_ms`
/// away, and listens until it says Done (at most 15 s).
fn stand_in(prepare: Prepare, start_after_ms: u64) -> Heard {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let options = WorkerOptions {
        coordinator: listener.local_addr().unwrap().to_string(),
        token: Some("t".into()),
        threads: Some(1),
        io_driver: Some("epoll".into()),
        connect_timeout: Duration::from_secs(10),
        tls: Vec::new(),
        accept_coordinator_tls: false,
    };
    let worker = std::thread::spawn(move || {
        worker::run(&options, BTreeMap::new(), Arc::new(AtomicBool::new(false)))
    });
    let (mut stream, _) = listener.accept().unwrap();
    let started = Instant::now();
    let (_hello, mut channel) = channel::respond(&mut stream, Some("t")).unwrap();
    let mut send = |stream: &mut TcpStream, m: &Message| channel.seal.write(stream, m).unwrap();
    send(&mut stream, &Message::Welcome { worker_id: 1 });
    send(&mut stream, &Message::Prepare(Box::new(prepare)));
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut messages = Vec::new();
    // Bounded by the read timeout and the 15 s overall.
    while started.elapsed() < Duration::from_secs(15) {
        match channel.open.read(&mut stream) {
            Ok(Message::Heartbeat) => {}
            Ok(Message::Ready) => {
                messages.push(Message::Ready);
                send(
                    &mut stream,
                    &Message::Start {
                        after_ms: start_after_ms,
                    },
                );
            }
            Ok(Message::Done { warnings }) => {
                messages.push(Message::Done { warnings });
                break;
            }
            Ok(other) => messages.push(other),
            Err(_) => break,
        }
    }
    let elapsed = started.elapsed();
    drop(stream);
    // The link closed: the worker ends (an error, since it ran no test, or Ok).
    let _ = worker.join().unwrap();
    Heard { messages, elapsed }
}

/// A share with these settings and no scenario.
fn share(settings: &[(&str, &str)]) -> Prepare {
    Prepare {
        settings: settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        scenario: None,
        feeders: Vec::new(),
        setup_values: Vec::new(),
        user_base: 0,
        env: Vec::new(),
    }
}

/// The warnings of the worker's Done, if it said Done.
fn done_warnings(heard: &Heard) -> Vec<String> {
    heard
        .messages
        .iter()
        .find_map(|m| match m {
            Message::Done { warnings } => Some(warnings.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Done: {:?}", heard.messages))
}

/// A start is relative to its message and bounded: a worker asked to start
/// ages away (u64::MAX ms; before, an absolute time a wrong clock could put
/// anywhere) refuses at once and tells the coordinator, instead of sleeping
/// through its share.
#[test]
fn a_start_ages_away_is_refused() {
    let sink = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = format!("http://{}", sink.local_addr().unwrap());
    let heard = stand_in(
        share(&[("host", &host), ("users", "1"), ("run-time", "1s")]),
        u64::MAX,
    );
    let warnings = done_warnings(&heard);
    assert!(
        warnings.iter().any(|w| w.contains("at most 10000 ms")),
        "{warnings:?}"
    );
    assert!(
        heard.elapsed < Duration::from_secs(5),
        "{:?}",
        heard.elapsed
    );
    sink.set_nonblocking(true).unwrap();
    assert!(sink.accept().is_err(), "the worker sent no load");
}

/// An empty cycle feeder sent by a coordinator (a worker's rows are not
/// read from a file, so nothing refused them before) no longer crashes the
/// worker (`% 0`): it says, there and to the coordinator, that the feeder
/// has no rows, sends no load, and is never ready.
#[test]
fn an_empty_cycle_feeder_is_refused_by_the_worker() {
    let sink = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = format!("http://{}", sink.local_addr().unwrap());
    let mut prepare = share(&[("host", &host), ("users", "2"), ("run-time", "1s")]);
    prepare.scenario = Some((
        "empty.toml".into(),
        "[feeders.rows]\nfile = \"rows.csv\"\nmode = \"cycle\"\n\n[[user]]\nname = \"u\"\n\
         feeder = \"rows\"\n[[user.task]]\nname = \"t\"\n[[user.task.step]]\npath = \"/${v}\"\n"
            .into(),
    ));
    prepare.feeders = vec![FeederRows {
        name: "rows".into(),
        columns: vec!["v".into()],
        rows: Vec::new(),
    }];
    let heard = stand_in(prepare, 300);
    let warnings = done_warnings(&heard);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("feeder 'rows' has no rows")),
        "{warnings:?}"
    );
    assert!(
        !heard.messages.contains(&Message::Ready),
        "{:?}",
        heard.messages
    );
    sink.set_nonblocking(true).unwrap();
    assert!(sink.accept().is_err(), "the worker sent no load");
}
