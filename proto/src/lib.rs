//! stampede-proto: the types that cross a process boundary.
//!
//! Today that is the per-interval stats [`Snapshot`]: every shard sends one per
//! second to the aggregator, and in distributed mode a worker sends the very same
//! type, rkyv-encoded, to the coordinator. Histograms travel whole (HDR bucket
//! counts, V2 encoding), never as percentiles, so merging at any level is exact.
//!
//! This crate owns the wire shape, its version and its validation. It has no
//! I/O runtime; framing and sockets belong to the engine's `coord` module.

mod snapshot;

pub use snapshot::{
    decode_snapshot, encode_snapshot, EndpointSnapshot, FailureCount, FailureKind,
    HistogramBuckets, ProtoError, Snapshot, SNAPSHOT_VERSION,
};
