//! stampede-engine: a thread-per-core HTTP/1.1 load generator.
//!
//! How a run flows, and where each part lives:
//!
//! - [`config`]: flags, `STAMPEDE_*` variables and Locust-style config files
//!   become one validated [`config::RunConfig`]. (`cli.rs`, in the binary,
//!   is the only clap code.)
//! - [`scenario`]: scenario files (TOML) and plain runs compiled into an
//!   immutable [`scenario::Plan`]; `run::setup` runs its once-per-run steps.
//! - [`run`]: the one run loop for every mode (stop reasons, run time,
//!   thresholds and abort, live load changes from keys, the web API or
//!   stages, progress, the outcome), driving a load source: local shards or
//!   remote workers; also setup, calibrate, the saturation verdict and the
//!   capacity search.
//! - [`shard`]: one pinned thread per core with its own monoio runtime
//!   (`shard::runtime` picks io_uring or epoll and is the only timer and
//!   task facade), its closed-loop users, open-loop arrivals and pipelining.
//! - [`http`]: request encoding, response parsing and framing, connections
//!   (plain TCP or TLS, from `--source-ips`), the pool and the client;
//!   `shard::pipeline` runs `--pipeline N` users on it.
//! - [`stats`]: shard-side recording, snapshots, and the aggregator that
//!   merges them (the same merge serves distributed runs later).
//! - [`coord`]: distributed mode: a coordinator and its workers, over the
//!   rkyv protocol in `stampede_proto::wire`.
//! - [`s3`]: `stampede s3`, object workloads (put, get, list, delete,
//!   mixed) compiled to an ordinary scenario with in-memory feeder rows,
//!   plus their prepare and cleanup phases; flags validated in `config::s3`.
//! - [`report`]: console tables, the JSON summary, the HTML report with
//!   charts, Locust-style CSV files and threshold verdicts.
//! - [`sys`]: fd limit, CPU time and memory from the OS; [`demo`]: the
//!   embedded target used by `stampede demo`.

pub mod config;
pub mod coord;
pub mod demo;
#[cfg(test)]
mod fuzz;
pub mod http;
pub mod report;
pub mod run;
pub mod s3;
pub mod scenario;
pub mod shard;
pub mod stats;
pub mod sys;
pub mod web;
