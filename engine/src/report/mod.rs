//! Reports: what a run's merged stats look like to people and programs.
//!
//! Every reporter reads an [`Aggregator`](crate::stats::Aggregator) and
//! produces text or a value; none of them merges stats (that is `stats`) or
//! decides when to print (that is the control actor and `main`).
//!
//! - [`console`]: Locust-style tables for the live view and the final summary.
//! - [`json`]: the machine-readable `stampede.summary/1` document.

pub mod banner;
pub mod console;
pub mod json;

pub use banner::{final_report, progress_block, run_header};
pub use console::{failures_table, percentile_table, stats_table, RpsMode};
pub use json::{summary, write_summary, RunInfo, SUMMARY_SCHEMA};
