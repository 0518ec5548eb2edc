//! The run: everything that owns a run's course, whatever produces the load.
//!
//! - [`control`]: the one run loop: stop reasons, run time, thresholds and
//!   `--abort-on-fail`, live load changes, progress and the outcome.
//! - [`live`]: what the load should be now (keys, API, stages, ramps);
//!   [`shape`] and [`pace`] hold its pure arithmetic.
//! - [`source`]: the load source interface; [`local`]: this process's shards
//!   (a coordinator's workers are `coord::coordinator::RemoteSource`).
//! - [`session`]: one `run` / `coordinator` command: chooses the source,
//!   runs one test (or, with `--web`, tests started from the web UI) and
//!   writes the reports.
//! - [`setup`]: the scenario's once-per-run steps.
//! - [`calibrate`], [`saturation`], [`capacity`]: `--calibrate`, the
//!   generator-bound verdict, and `stampede capacity`'s search.

pub mod calibrate;
pub mod capacity;
pub mod control;
pub mod live;
pub mod local;
pub mod pace;
pub mod phase;
pub mod saturation;
pub mod session;
pub mod setup;
pub mod shape;
pub mod source;
