//! The sources a run hears from (shards, or workers in distributed mode):
//! each one's latest interval, users and open connections, hence the users
//! and connections now and which intervals every source has reported; and
//! the peak memory each worker process stamped on its snapshots.
//!
//! It holds no request counts; those are the aggregator's. A source that sent
//! its final snapshot, or was retired (a dead worker), is waited for no more.

use std::collections::BTreeMap;

use stampede_proto::Snapshot;

/// Intervals a straggling source is waited for before newer ones count as complete.
const STRAGGLER_WAIT_INTERVALS: u32 = 2;

/// What is remembered of one source.
#[derive(Debug, Clone, Copy, Default)]
struct SourceState {
    /// Highest interval index received from the source.
    latest_interval: u32,
    /// Users the source reported with that interval.
    users: u32,
    /// The source sent its final snapshot or was retired; nothing is waited for.
    finished: bool,
    /// Its busy share in that interval (CPU used and waited for over wall time), 0 to 1.
    busy: f64,
    /// Connections it held open at the end of that interval.
    open_connections: u32,
    /// Highest peak memory of its process seen on its snapshots, KiB (0 for
    /// the run's own shards, which do not stamp it).
    max_rss_kb: u64,
}

/// Every source heard from, by source id.
#[derive(Debug, Default)]
pub(super) struct Sources {
    by_id: BTreeMap<u32, SourceState>,
}

impl Sources {
    /// Notes a snapshot; a late, older one (or a regular one after the final)
    /// does not overwrite newer users.
    pub fn merge(&mut self, snapshot: &Snapshot) {
        let state = self.by_id.entry(snapshot.source).or_default();
        let newer = snapshot.interval >= state.latest_interval;
        if newer && (snapshot.is_final || !state.finished) {
            state.latest_interval = snapshot.interval;
            state.users = snapshot.users;
            state.open_connections = snapshot.open_connections;
            if snapshot.wall_us > 0 {
                let busy_us = snapshot.cpu_us.saturating_add(snapshot.wait_us);
                state.busy = busy_us as f64 / snapshot.wall_us as f64;
            }
        }
        state.finished |= snapshot.is_final;
        // A process's peak only grows; a late snapshot cannot lower it.
        state.max_rss_kb = state.max_rss_kb.max(snapshot.max_rss_kb);
    }

    /// Peak memory of each worker process that stamped it on its snapshots,
    /// in KiB, by worker id (a source's process part), lowest id first.
    pub fn worker_rss_kb(&self) -> Vec<(u32, u64)> {
        let mut by_worker: BTreeMap<u32, u64> = BTreeMap::new();
        for (source, state) in &self.by_id {
            let worker = source >> super::SOURCE_PROCESS_SHIFT;
            if worker > 0 && state.max_rss_kb > 0 {
                let peak = by_worker.entry(worker).or_default();
                *peak = (*peak).max(state.max_rss_kb);
            }
        }
        by_worker.into_iter().collect()
    }

    /// Marks a source as gone: its users and connections no longer count, and
    /// nothing waits for it.
    pub fn retire(&mut self, source: u32) {
        if let Some(state) = self.by_id.get_mut(&source) {
            state.users = 0;
            state.open_connections = 0;
            state.finished = true;
        }
    }

    /// Each live source's busy share in its latest interval, by source id.
    pub fn busy(&self) -> Vec<(u32, f64)> {
        let live = self.by_id.iter().filter(|(_, s)| !s.finished);
        live.map(|(id, s)| (*id, s.busy)).collect()
    }

    /// Users now: the sum over sources of the users in each one's latest snapshot.
    pub fn users(&self) -> u32 {
        self.by_id
            .values()
            .fold(0u32, |sum, s| sum.saturating_add(s.users))
    }

    /// Connections open now: the sum over live sources of the open
    /// connections in each one's latest snapshot; a finished or retired
    /// source holds none.
    pub fn open_connections(&self) -> u64 {
        let live = self.by_id.values().filter(|s| !s.finished);
        live.map(|s| u64::from(s.open_connections)).sum()
    }

    /// The newest interval every live source has reported, given the newest
    /// interval anyone reported; 0 for none.
    ///
    /// The newest interval is usually incomplete: some shards have sent it and
    /// others not yet. A source more than `STRAGGLER_WAIT_INTERVALS` behind is
    /// not waited for; if it is dead, it truly contributes nothing.
    pub fn completed_interval(&self, newest: u32) -> u32 {
        let live = self.by_id.values().filter(|s| !s.finished);
        match live.map(|s| s.latest_interval).min() {
            None => newest,
            Some(min) => min.max(newest.saturating_sub(STRAGGLER_WAIT_INTERVALS)),
        }
    }

    /// The newest interval every one of `expected` sources has reported or
    /// will never report again (finished or retired), waiting for stragglers
    /// however late: what `--jsonl` writes once and never rewrites. 0 until
    /// `expected` sources have been heard from.
    pub fn settled_interval(&self, expected: usize, newest: u32) -> u32 {
        if self.by_id.len() < expected {
            return 0;
        }
        let live = self.by_id.values().filter(|s| !s.finished);
        live.map(|s| s.latest_interval).min().unwrap_or(newest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::test_support::snapshot;

    /// An interval settles only once every expected source is past it or done.
    #[test]
    fn settled_waits_for_every_expected_source() {
        let mut sources = Sources::default();
        sources.merge(&snapshot(0, 1, 1, Vec::new()));
        sources.merge(&snapshot(0, 2, 1, Vec::new()));
        assert_eq!(
            sources.settled_interval(2, 2),
            0,
            "source 1 has not reported yet"
        );
        sources.merge(&snapshot(1, 1, 1, Vec::new()));
        assert_eq!(sources.settled_interval(2, 2), 1);
        for interval in 3..10 {
            sources.merge(&snapshot(0, interval, 1, Vec::new()));
        }
        assert_eq!(
            sources.settled_interval(2, 9),
            1,
            "a straggler is waited for"
        );
        sources.retire(1);
        assert_eq!(sources.settled_interval(2, 9), 9);
    }

    fn final_snapshot(source: u32, interval: u32) -> Snapshot {
        Snapshot {
            is_final: true,
            ..snapshot(source, interval, 0, vec![])
        }
    }

    /// Users sum each source's latest snapshot; late older ones and post-final ones do not count.
    #[test]
    fn users_follow_the_latest_snapshot_of_each_source() {
        let mut sources = Sources::default();
        sources.merge(&snapshot(0, 2, 10, vec![]));
        sources.merge(&snapshot(1, 2, 20, vec![]));
        sources.merge(&snapshot(0, 1, 4, vec![]));
        assert_eq!(sources.users(), 30);
        sources.merge(&final_snapshot(1, 2));
        sources.merge(&snapshot(1, 2, 20, vec![]));
        assert_eq!(sources.users(), 10);
        sources.retire(0);
        assert_eq!(sources.users(), 0);
    }

    /// Open connections follow each live source's latest snapshot; a late
    /// older one does not overwrite, a finished or retired source counts 0.
    #[test]
    fn open_connections_follow_live_sources() {
        let with_open = |source, interval, open| Snapshot {
            open_connections: open,
            ..snapshot(source, interval, 1, vec![])
        };
        let mut sources = Sources::default();
        assert_eq!(sources.open_connections(), 0);
        sources.merge(&with_open(0, 2, 10));
        sources.merge(&with_open(1, 2, 20));
        sources.merge(&with_open(2, 2, 5));
        sources.merge(&with_open(0, 1, 99));
        assert_eq!(sources.open_connections(), 35);
        sources.merge(&with_open(0, 3, 12));
        assert_eq!(sources.open_connections(), 37);
        // A final snapshot ends the source, whatever it still reported open.
        sources.merge(&Snapshot {
            open_connections: 3,
            ..final_snapshot(1, 3)
        });
        sources.merge(&with_open(1, 4, 20));
        assert_eq!(sources.open_connections(), 17);
        sources.retire(2);
        assert_eq!(sources.open_connections(), 12);
    }

    /// Each worker's peak memory is the highest its shards stamped, late
    /// snapshots included; the run's own shards (process 0) stamp none.
    #[test]
    fn worker_memory_is_each_processes_peak() {
        let with_rss = |source, interval, max_rss_kb| Snapshot {
            max_rss_kb,
            ..snapshot(source, interval, 1, vec![])
        };
        let mut sources = Sources::default();
        sources.merge(&with_rss(0, 1, 0));
        assert_eq!(sources.worker_rss_kb(), []);
        sources.merge(&with_rss(1 << 16, 1, 9_000));
        sources.merge(&with_rss((1 << 16) | 1, 1, 9_500));
        sources.merge(&with_rss(2 << 16, 2, 12_000));
        sources.merge(&with_rss(2 << 16, 1, 11_000));
        sources.merge(&with_rss(1 << 16, 2, 9_200));
        assert_eq!(sources.worker_rss_kb(), [(1, 9_500), (2, 12_000)]);
    }

    /// An interval is complete once every live source sent it, with a bounded wait for stragglers.
    #[test]
    fn completed_interval_waits_for_live_sources_only() {
        let mut sources = Sources::default();
        assert_eq!(sources.completed_interval(0), 0);
        sources.merge(&snapshot(0, 5, 1, vec![]));
        sources.merge(&snapshot(1, 4, 1, vec![]));
        assert_eq!(sources.completed_interval(5), 4);
        sources.merge(&snapshot(0, 9, 1, vec![]));
        assert_eq!(sources.completed_interval(9), 7);
        sources.merge(&final_snapshot(0, 10));
        sources.retire(1);
        assert_eq!(sources.completed_interval(10), 10);
    }
}
