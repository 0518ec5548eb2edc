//! The sources a run hears from (shards, or workers in distributed mode):
//! each one's latest interval and users, hence the users now and which
//! intervals every source has reported.
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
            if snapshot.wall_us > 0 {
                let busy_us = snapshot.cpu_us.saturating_add(snapshot.wait_us);
                state.busy = busy_us as f64 / snapshot.wall_us as f64;
            }
        }
        state.finished |= snapshot.is_final;
    }

    /// Marks a source as gone: its users no longer count, and nothing waits for it.
    pub fn retire(&mut self, source: u32) {
        if let Some(state) = self.by_id.get_mut(&source) {
            state.users = 0;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::test_support::snapshot;

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
