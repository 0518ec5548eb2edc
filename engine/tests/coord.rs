//! Custom messages travel coordinator -> worker -> coordinator through the
//! library API, during a real (in-process) distributed run.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stampede_engine::config::{RunConfig, Settings};
use stampede_engine::coord::coordinator::{
    self, CoordinatorHandler, CoordinatorHooks, CoordinatorOptions,
};
use stampede_engine::coord::worker::{self, WorkerHandler, WorkerOptions};
use stampede_engine::demo;
use stampede_engine::run::control::RunHooks;
use stampede_engine::scenario::Plan;

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
