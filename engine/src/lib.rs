//! stampede-engine: a thread-per-core HTTP/1.1 load generator.
//!
//! How a run flows, and where each part lives:
//!
//! - [`config`]: flags, `STAMPEDE_*` variables and Locust-style config files
//!   become one validated [`config::RunConfig`]. (`cli.rs`, in the binary,
//!   is the only clap code.)
//! - [`scenario`]: scenario files (TOML) and plain runs compiled into an
//!   immutable [`scenario::Plan`]; [`setup`] runs its once-per-run steps.
//! - [`control`]: the control actor on the main thread: raises the fd limit,
//!   starts shards, ramps users, stops the run, merges snapshots.
//! - [`shard`]: one pinned thread per core with its own monoio runtime
//!   ([`runtime`] picks io_uring or epoll), users, connection pool and stats.
//! - [`user`] (closed loop) and [`arrivals`] (open loop) generate requests;
//!   [`pace`] holds their pure timing arithmetic.
//! - [`shape`]: load shapes (stages, step load) and the open-loop schedule's
//!   anchor, pure; [`live`] turns them and the console keys into commands.
//! - [`http`]: request encoding, response parsing and framing, connections
//!   (plain TCP or TLS, from `--source-ips`), the pool and the client;
//!   [`pipeline`] runs `--pipeline N` users on it.
//! - [`stats`]: shard-side recording, snapshots, and the aggregator that
//!   merges them (the same merge serves distributed runs later).
//! - [`coord`]: distributed mode: a coordinator and its workers, over the
//!   rkyv protocol in `stampede_proto::wire`.
//! - [`report`]: console tables, the JSON summary, the HTML report with
//!   charts, Locust-style CSV files and threshold verdicts.
//! - [`capacity`]: `stampede capacity`, the step-and-bisect search for the
//!   most load within an SLO.
//! - [`calibrate`]: `--calibrate`, service time first and a warning when the
//!   rate needs more connections than allowed.
//! - [`saturation`]: whether the generator, not the target, was the limit.
//! - [`sys`]: fd limit, CPU time and memory from the OS; [`demo`]: the
//!   embedded target used by `stampede demo`.

pub mod arrivals;
pub mod calibrate;
pub mod capacity;
pub mod config;
pub mod control;
pub mod coord;
pub mod demo;
pub mod http;
pub mod live;
pub mod pace;
pub mod pipeline;
pub mod report;
pub mod runtime;
pub mod saturation;
pub mod scenario;
pub mod setup;
pub mod shape;
pub mod shard;
pub mod stats;
pub mod sys;
pub mod user;
