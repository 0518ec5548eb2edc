//! Simulated workers for the coordinator benchmark (bench/coordinator.sh):
//! N connections that join a real coordinator and send one realistic
//! snapshot per second each (E endpoints, whole HDR histograms), then Done.
//!
//! Usage: fake_workers COORDINATOR_ADDR WORKERS ENDPOINTS SECONDS TOKEN

use std::net::TcpStream;
use std::time::{Duration, Instant};

use stampede_engine::coord::channel;
use stampede_proto::wire::{Hello, Message, PROTOCOL_VERSION};

#[path = "support/snapshots.rs"]
mod snapshots;
use snapshots::snapshot;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: fake_workers COORDINATOR_ADDR WORKERS ENDPOINTS SECONDS TOKEN");
        std::process::exit(2);
    }
    let (addr, workers, endpoints, seconds, token) = (
        args[1].clone(),
        args[2].parse().unwrap(),
        args[3].parse().unwrap(),
        args[4].parse().unwrap(),
        args[5].clone(),
    );
    let threads: Vec<_> = (0..workers)
        .map(|i| {
            let (addr, token) = (addr.clone(), token.clone());
            std::thread::spawn(move || worker(i, &addr, endpoints, seconds, &token))
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn worker(index: usize, addr: &str, endpoints: usize, seconds: u32, token: &str) {
    let stream = loop {
        match TcpStream::connect(addr) {
            Ok(s) => break s,
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let mut input = stream.try_clone().unwrap();
    let mut out = stream;
    let channel::Channel { mut seal, mut open } =
        channel::initiate(&mut out, Some(token)).expect("handshake");
    let mut send = |m: &Message| seal.write(&mut out, m).unwrap();
    send(&Message::Hello(Hello {
        version: PROTOCOL_VERSION,
        cores: 1,
        hostname: format!("fake-{index}"),
    }));
    let id = match open.read(&mut input).unwrap() {
        Message::Welcome { worker_id } => worker_id,
        other => panic!("not welcomed: {other:?}"),
    };
    loop {
        match open.read(&mut input).unwrap() {
            Message::Prepare(_) => break,
            _ => continue,
        }
    }
    send(&Message::Ready);
    loop {
        if let Message::Start { .. } = open.read(&mut input).unwrap() {
            break;
        }
    }
    // Keep reading (heartbeats) so the coordinator's writes never block.
    std::thread::spawn(move || while open.read(&mut input).is_ok() {});
    // Snapshots are prepared up front: the benchmark measures the coordinator.
    let frames: Vec<Message> = (1..=seconds)
        .map(|k| {
            Message::Snapshot(Box::new(snapshot(
                id << 16,
                k,
                endpoints,
                u64::from(id) * 7919 + u64::from(k),
            )))
        })
        .collect();
    let start = Instant::now();
    for (k, frame) in frames.iter().enumerate() {
        let due = start + Duration::from_secs(k as u64 + 1);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        send(frame);
        send(&Message::Heartbeat);
    }
    send(&Message::Done { warnings: vec![] });
    std::thread::sleep(Duration::from_millis(500));
}
