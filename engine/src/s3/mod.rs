//! Object workloads (`stampede s3 put|get|mixed|list|delete`) compiled to
//! an ordinary run, so pacing, stages, reports, thresholds and distributed
//! mode all apply to them.
//!
//! - [`size`]: `--size` distributions, each key's size and range offset
//!   (deterministic from its index and `--seed`), size classes, key names.
//! - [`scenario`]: the generated scenario text and the in-memory rows of
//!   its `objects` feeder; requests use `body_size` (bodies sliced from the
//!   shared block), `when` (a step per size class) and `check.body_bytes`.
//! - [`command`]: prepare, the main run (local or as a coordinator), cleanup.
//!
//! The flags are validated in `config::s3`; clap is in `cli.rs`.

pub mod command;
pub mod scenario;
pub mod size;

#[cfg(test)]
mod tests;
