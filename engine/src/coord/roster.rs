//! The coordinator's roster: each joined worker's link, state and the
//! figures of its workers-table row, kept up to date from its snapshots.

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
            cpu_percent: if shares.is_empty() {
                0.0
            } else {
                shares.iter().sum::<f64>() / shares.len() as f64
            },
            requests: self.requests,
        }
    }
}

/// The workers table's rows.
pub(super) fn rows(workers: &BTreeMap<u32, Worker>) -> Vec<WorkerRow> {
    workers.iter().map(|(id, w)| w.row(*id)).collect()
}
