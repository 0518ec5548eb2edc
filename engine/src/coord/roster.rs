//! The coordinator's roster: each joined worker's link, state and the
//! figures of its workers-table row (now, and over the run), kept up to
//! date from its snapshots.

use std::collections::BTreeMap;

use stampede_proto::wire::Hello;
use stampede_proto::Snapshot;

use super::link::Sender;
use crate::report::workers::WorkerRow;

/// A joined worker.
pub(super) struct Worker {
    pub(super) hello: Hello,
    pub(super) sender: Sender,
    /// Snapshot sources (shards) seen from it.
    pub(super) sources: Vec<u32>,
    pub(super) finished: bool,
    /// Lost rather than done.
    pub(super) lost: bool,
    /// Requests in its snapshots so far.
    pub(super) requests: u64,
    /// Latest (interval, users, cpu_us, wall_us) of each of its shards.
    pub(super) latest: BTreeMap<u32, (u32, u32, u64, u64)>,
    /// Requests per interval, the last few.
    pub(super) recent: BTreeMap<u32, u64>,
    /// Most users it ran at once: the highest sum over its shards of each
    /// one's latest users, as the live table showed them.
    pub(super) users_peak: u32,
    /// Milliseconds from the start to the end of its latest interval: how
    /// long it has run, for its average rate.
    pub(super) elapsed_ms: u64,
    /// Shard CPU and wall time summed over all its snapshots, microseconds.
    pub(super) cpu_wall_us: (u64, u64),
}

impl Worker {
    pub(super) fn new(hello: Hello, sender: Sender) -> Worker {
        Worker {
            hello,
            sender,
            sources: Vec::new(),
            finished: false,
            lost: false,
            requests: 0,
            latest: BTreeMap::new(),
            recent: BTreeMap::new(),
            users_peak: 0,
            elapsed_ms: 0,
            cpu_wall_us: (0, 0),
        }
    }

    /// Forgets the last test's figures before a new one.
    pub(super) fn reset(&mut self) {
        *self = Worker::new(self.hello.clone(), self.sender.clone());
    }

    /// Counts a snapshot into the worker's own figures.
    pub(super) fn note(&mut self, snapshot: &Snapshot) {
        if !self.sources.contains(&snapshot.source) {
            self.sources.push(snapshot.source);
        }
        let requests: u64 = snapshot.endpoints.iter().map(|e| e.requests).sum();
        self.requests += requests;
        *self.recent.entry(snapshot.interval).or_default() += requests;
        while self.recent.len() > 5 {
            self.recent.pop_first();
        }
        let entry = self.latest.entry(snapshot.source).or_insert((0, 0, 0, 0));
        if snapshot.interval >= entry.0 {
            *entry = (
                snapshot.interval,
                snapshot.users,
                snapshot.cpu_us,
                snapshot.wall_us,
            );
        }
        let users_now = self
            .latest
            .values()
            .fold(0u32, |sum, l| sum.saturating_add(l.1));
        self.users_peak = self.users_peak.max(users_now);
        self.elapsed_ms = self.elapsed_ms.max(snapshot.elapsed_ms);
        self.cpu_wall_us.0 = self.cpu_wall_us.0.saturating_add(snapshot.cpu_us);
        self.cpu_wall_us.1 = self.cpu_wall_us.1.saturating_add(snapshot.wall_us);
    }

    /// The worker's row in the workers table.
    pub(super) fn row(&self, id: u32) -> WorkerRow {
        // The newest interval may still be missing shards: rate over the ones before it.
        let newest = self.recent.keys().next_back().copied().unwrap_or(0);
        let complete: Vec<u64> = self
            .recent
            .range(newest.saturating_sub(3)..newest)
            .map(|(_, &n)| n)
            .collect();
        let rps = if complete.is_empty() {
            self.recent.get(&newest).copied().unwrap_or(0) as f64
        } else {
            complete.iter().sum::<u64>() as f64 / complete.len() as f64
        };
        let shares: Vec<f64> = self
            .latest
            .values()
            .filter(|l| l.3 > 0)
            .map(|l| 100.0 * l.2 as f64 / l.3 as f64)
            .collect();
        WorkerRow {
            id,
            host: self.hello.hostname.clone(),
            cores: self.hello.cores,
            state: if self.lost {
                "lost"
            } else if self.finished {
                "done"
            } else {
                "running"
            },
            users: if self.finished {
                0
            } else {
                self.latest.values().map(|l| l.1).sum()
            },
            rps: if self.finished { 0.0 } else { rps },
            users_peak: self.users_peak,
            rps_mean: if self.elapsed_ms > 0 {
                self.requests as f64 * 1_000.0 / self.elapsed_ms as f64
            } else {
                0.0
            },
            cpu_percent: if shares.is_empty() {
                0.0
            } else {
                shares.iter().sum::<f64>() / shares.len() as f64
            },
            cpu_percent_mean: match self.cpu_wall_us {
                (_, 0) => 0.0,
                (cpu_us, wall_us) => 100.0 * cpu_us as f64 / wall_us as f64,
            },
            requests: self.requests,
        }
    }
}

/// The workers table's rows.
pub(super) fn rows(workers: &BTreeMap<u32, Worker>) -> Vec<WorkerRow> {
    workers.iter().map(|(id, w)| w.row(*id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::test_support::{endpoint, snapshot};

    /// A worker on a loopback link (the row never sends anything).
    fn worker() -> (Worker, std::net::TcpListener) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let hello = Hello {
            version: stampede_proto::wire::PROTOCOL_VERSION,
            cores: 2,
            hostname: "w-a".into(),
        };
        (
            Worker::new(
                hello,
                Sender::new(&stream, super::super::channel::Channel::plain().seal).unwrap(),
            ),
            listener,
        )
    }

    /// Two shards for 2.5 s: users 2+2, then 3+3, then 0 at the stop. While
    /// running the row shows users and the rate now; once done, users and
    /// the rate now are 0, and the figures over the run remain: 6 users at
    /// most, 90 requests in 2.5 s, shard CPU 40% of wall time.
    #[test]
    fn row_keeps_peak_users_and_average_rate_after_the_run() {
        let (mut w, _listener) = worker();
        let seconds = [(1u32, 2u32, 10usize), (2, 3, 20), (3, 0, 15)];
        for (interval, users, requests) in seconds {
            for shard in 0..2 {
                let mut s = snapshot(
                    (1 << 16) | shard,
                    interval,
                    users,
                    vec![endpoint("GET", "/", &vec![1_000; requests], &[])],
                );
                s.cpu_us = 400_000;
                if interval == 3 {
                    (s.elapsed_ms, s.wall_us, s.cpu_us, s.is_final) =
                        (2_500, 500_000, 200_000, true);
                }
                w.note(&s);
            }
            if interval == 2 {
                let row = w.row(1);
                assert_eq!((row.state, row.users, row.users_peak), ("running", 6, 6));
                assert_eq!(row.rps, 20.0, "the last complete second: 2 x 10");
            }
        }
        w.finished = true;
        let row = w.row(1);
        assert_eq!((row.state, row.users, row.rps), ("done", 0, 0.0));
        assert_eq!((row.users_peak, row.requests), (6, 90));
        assert_eq!(row.rps_mean, 36.0, "90 requests over 2.5 s");
        assert!(
            (row.cpu_percent_mean - 40.0).abs() < 1e-9,
            "{}",
            row.cpu_percent_mean
        );
    }
}
