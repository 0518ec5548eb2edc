//! The run: everything that owns a run's course, whatever produces the load.
//!
//! - [`control`]: the one run loop: stop reasons, run time, thresholds and
//!   `--abort-on-fail`, live load changes, progress and the outcome.
//! - [`live`]: what the load should be now (keys, API, stages, ramps);
//!   [`shape`] and [`pace`] hold its pure arithmetic.
//! - [`setup`]: the scenario's once-per-run steps.
//! - [`calibrate`], [`saturation`], [`capacity`]: `--calibrate`, the
//!   generator-bound verdict, and `stampede capacity`'s search.

pub mod calibrate;
pub mod capacity;
pub mod control;
pub mod live;
pub mod pace;
pub mod saturation;
pub mod setup;
pub mod shape;
