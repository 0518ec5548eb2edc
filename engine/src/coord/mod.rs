//! Distributed mode: one coordinator drives many worker processes, and their
//! stats merge into one run.
//!
//! - [`coordinator`]: listens, authenticates workers, splits the run,
//!   starts everyone together, merges snapshots, survives lost workers.
//! - [`worker`]: joins, runs its share on its own shards, forwards snapshots.
//! - [`local`]: `--processes`, workers started on this machine by the coordinator.
//! - [`channel`]: preambles, the Noise handshake keyed by the token, sealed frames.
//! - `handshake`: the coordinator's door, every handshake on one thread.
//! - [`link`]: framed messages over TCP with heartbeats, on plain threads.
//! - [`remote`]: the remote load source, one test on the cluster's workers.
//! - [`share`]: each worker's share of a test, as sent.
//! - `roster`: each worker's state and workers-table figures.
//! - [`split`]: the pure arithmetic of shares and feeder partitions.
//!
//! The messages and their framing are `stampede_proto::wire`; the merge is
//! the same `stats::Aggregator` a single process uses.

pub mod channel;
pub mod coordinator;
mod handshake;
pub mod link;
pub mod local;
pub mod remote;
mod roster;
pub mod share;
pub mod split;
pub mod worker;

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
