//! Quiet runs before and after a command's test (`stampede s3`'s prepare
//! and cleanup), on the same load source as the test: this process's
//! shards, or, when it coordinates, the workers that joined it, each as
//! one more test on the cluster (so a unique feeder's rows are split over
//! the workers exactly like the test's). A phase's requests are merged
//! into its own outcome, never into the test's reports.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::control::{self, RunHooks, RunOutcome};
use super::local::LocalSource;
use crate::config::Loaded;
use crate::coord::coordinator::{
    Cluster, CoordinatorHooks, CoordinatorOptions, RemoteSource, Test,
};

/// Builds a phase's run: given the workers' cores when the phase runs on a
/// cluster, `None` on this process's shards.
pub type PhaseBuild = Box<dyn FnMut(Option<u32>) -> Result<Loaded, String>>;

/// Judges a phase's outcome after it took the given time (and says so);
/// an error fails the command.
pub type PhaseFinish = Box<dyn FnMut(&RunOutcome, Duration) -> Result<(), String>>;

/// One quiet run around the test.
pub struct Phase {
    /// Its name in messages (`prepare`, `cleanup`).
    pub name: &'static str,
    /// Its settings and scenario.
    pub build: PhaseBuild,
    /// What its outcome means.
    pub finish: PhaseFinish,
}

/// The phases of a command: `before` runs once the workers joined and a
/// failure ends the command before the test; `after` runs after the test's
/// reports are written, whatever the test's outcome.
#[derive(Default)]
pub struct Phases {
    /// Before the test (prepare).
    pub before: Option<Phase>,
    /// After the test's reports (cleanup).
    pub after: Option<Phase>,
}

impl Phases {
    /// True when there is neither.
    pub fn is_empty(&self) -> bool {
        self.before.is_none() && self.after.is_none()
    }
}

/// Where a phase runs: the cluster (with its options and hooks) or this
/// process's shards.
pub(super) struct PhaseSource<'a> {
    pub cluster: Option<(
        &'a mut Cluster,
        &'a CoordinatorOptions,
        &'a mut CoordinatorHooks,
    )>,
    /// Shards of this process.
    pub cores: usize,
    /// Ctrl-C and SIGTERM.
    pub stop: &'a AtomicBool,
}

/// Runs `phase` to its end on `source` and judges it.
pub(super) fn run(phase: &mut Phase, source: PhaseSource<'_>) -> Result<(), String> {
    let name = phase.name;
    let cluster_cores = source
        .cluster
        .as_ref()
        .map(|(cluster, _, _)| cluster.cores());
    let loaded = (phase.build)(cluster_cores)?;
    let (config, plan) = loaded
        .run_config(source.cores)
        .map_err(|e| format!("{name}: {e}"))?;
    let mut hooks = RunHooks {
        stop: source.stop,
        changes: None,
        progress: &mut |_, _, _| {},
        on_snapshot: &mut |_| {},
        observer: None,
    };
    let started = Instant::now();
    let outcome = match source.cluster {
        Some((cluster, options, coordinator_hooks)) => {
            let test = Test {
                config: &config,
                settings: &loaded.settings,
                scenario: loaded.scenario.as_deref(),
                plan: &plan,
            };
            let mut remote =
                RemoteSource::start(cluster, &test, options.on_loss, coordinator_hooks)
                    .map_err(|e| format!("{name}: {e}"))?;
            control::drive(&config, &mut remote, &mut hooks)
        }
        None => {
            let mut local =
                LocalSource::start(&config, plan).map_err(|e| format!("{name}: {e}"))?;
            control::drive(&config, &mut local, &mut hooks)
        }
    };
    (phase.finish)(&outcome, started.elapsed())
}
