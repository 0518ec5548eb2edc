//! Reports: what a run's merged stats look like to people and programs.
//!
//! Every reporter reads an [`Aggregator`](crate::stats::Aggregator) and
//! produces text or a value; none of them merges stats (that is `stats`) or
//! decides when to print (that is the control actor and `main`).
//!
//! - [`console`]: Locust-style tables for the live view and the final summary.
//! - [`json`]: the machine-readable `stampede.summary/1` document.
//! - [`csv`]: Locust-compatible `PREFIX_*.csv` files.
//! - [`html`]: the self-contained HTML report with charts (`--html`).
//! - [`objects`]: the table in object terms of an object workload (`stampede s3`).
//! - [`capacity`]: the capacity search's table, JSON and HTML chart.
//! - [`thresholds`]: pass/fail criteria, their verdicts and the verdict table.
//! - [`runfile`]: run files (`--save-run`) written, read and replayed for
//!   `stampede report`; [`compare`]: two runs' deltas and regressions.
//! - [`write`]: the one entry point that prints and writes every requested
//!   report of a finished run.

pub mod banner;
pub mod capacity;
pub mod compare;
pub mod console;
pub mod csv;
pub mod html;
pub mod json;
pub mod objects;
pub mod output;
pub mod runfile;
pub mod thresholds;
pub mod workers;
pub mod write;

pub use banner::{final_report, progress_block, progress_line, run_header};
pub use console::{failures_table, percentile_table, stats_table, RpsMode};
pub use json::{summary, write_summary, RunInfo, SUMMARY_SCHEMA};
