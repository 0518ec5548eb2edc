//! stampede-proto: the types that cross a process boundary.
//!
//! Today that is the per-interval stats [`Snapshot`]: every shard sends one per
//! second to the aggregator, and in distributed mode a worker sends the very same
//! type, rkyv-encoded, to the coordinator. Histograms travel whole (HDR bucket
//! counts, V2 encoding), never as percentiles, so merging at any level is exact.
//!
//! The same snapshots, framed behind a header with the run's facts, make a
//! run file ([`encode_run`], `--save-run`): a run crossing into a later
//! process (`stampede report`, `stampede compare`).
//!
//! This crate owns the wire shapes, their versions and their validation. It has
//! no I/O runtime; framing and sockets belong to the engine's `coord` module,
//! files to its `report::runfile`.

mod buckets;
#[cfg(test)]
mod fuzz;
mod run_file;
mod snapshot;
pub mod wire;

pub use run_file::{
    append_frame, decode_run, encode_run, is_run_file, RunFacts, RunFileError, RunFileWriter,
    RunRecord, RUN_FILE_MAGIC, RUN_FILE_VERSION,
};

pub use buckets::{BucketCounts, CheckedBuckets};
pub use snapshot::{
    decode_snapshot, encode_snapshot, AddressCount, EndpointSnapshot, FailureCount, FailureKind,
    FailureSample, HistogramBuckets, ProtoError, Snapshot, SAMPLE_BODY_BYTES, SNAPSHOT_VERSION,
};
