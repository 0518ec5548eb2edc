//! What produces a run's load, as the run loop sees it: the local shards of
//! this process, or a coordinator's remote workers. Both speak through the
//! same small interface, so every flag behaves the same in every mode.
//!
//! A source owns starting and stopping its parts and turning their traffic
//! into events; the run loop owns the run's course (stop reasons, run time,
//! thresholds, live load, progress, the outcome).

use std::time::{Duration, Instant};

use stampede_proto::Snapshot;

use super::control::StopReason;
use super::live::LiveLoad;
use crate::report::workers::WorkerRow;

/// Something a source tells the run loop.
pub enum SourceEvent {
    /// One interval of stats from one of its parts.
    Snapshot(Box<Snapshot>),
    /// A stats source is gone for good (a lost worker's shards): stop waiting for it.
    Retire(u32),
    /// Something the user should know about the measurement.
    Warning(String),
    /// The source itself ends the run (a lost worker with `--on-worker-loss abort`).
    Stop(StopReason),
}

/// The facts of a finished source, for the run's report.
pub struct SourceFacts {
    /// Shards over every part (cores of all workers in a distributed run).
    pub threads: usize,
    /// The I/O driver(s) that ran, or how the run was distributed.
    pub io_driver: String,
    /// Where the run's CPU time comes from.
    pub cpu: CpuSource,
    /// The open-file limit in force here; 0 when unknown.
    pub fd_limit: u64,
    /// Connections opened over all shards (0 where not reported).
    pub connections_opened: u64,
}

/// Where a run's generator CPU time is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuSource {
    /// This process's own CPU time (its shards run here).
    ThisProcess,
    /// The CPU time the snapshots report (the workers' shards elsewhere).
    Snapshots,
}

/// A started load: local shards or remote workers.
pub trait LoadSource {
    /// When the load started: the instant and the Unix time in milliseconds.
    fn started(&self) -> (Instant, u64);
    /// The next event, waiting at most `wait`; `None` when nothing came.
    fn next_event(&mut self, wait: Duration) -> Option<SourceEvent>;
    /// True once every part has finished or is gone.
    fn finished(&self) -> bool;
    /// Applies the load `live` wants `elapsed` into the run.
    fn steer(&mut self, live: &mut LiveLoad, elapsed: Duration);
    /// Asks every part to stop gracefully (idempotent).
    fn stop(&mut self);
    /// Time past the stop timeout the loop waits for the parts' final stats.
    fn final_grace(&self) -> Duration;
    /// The workers table (distributed runs); empty for local shards.
    fn workers(&self) -> Vec<WorkerRow>;
    /// Stats sources (shards, over all workers) that send snapshots.
    fn sources_expected(&self) -> usize;
    /// Where the run's CPU time is read (also while it runs).
    fn cpu_source(&self) -> CpuSource;
    /// How a stats source is named on screen ("shard 0", "worker 2").
    fn source_name(&self, source: u32) -> String;
    /// Releases the parts (joins threads, closes links) and says what ran.
    fn finish(&mut self) -> SourceFacts;
}
