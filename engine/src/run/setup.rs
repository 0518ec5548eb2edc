//! The setup phase: steps that run exactly once per run, before any user
//! starts (an admin login, say). Values they extract become read-only
//! starting values for every user.
//!
//! Setup runs on the calling thread with a runtime and client of its own and
//! hands back plain data (slot, value), so a coordinator can later run it
//! once and broadcast the values to workers. Its requests are not part of
//! the run's stats; any failure aborts the run.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use crate::config::RunConfig;
use crate::http::Client;
use crate::scenario::Plan;
use crate::shard::runtime;
use crate::shard::user::{StepEnv, VirtualUser};
use crate::stats::recorder::Recorder;

/// Values extracted by setup, by variable slot.
pub type SetupValues = Vec<(usize, Vec<u8>)>;

/// Runs the plan's setup steps; returns what they extracted.
pub fn run(plan: &Plan, config: &RunConfig) -> Result<SetupValues, String> {
    if plan.setup.is_empty() {
        return Ok(Vec::new());
    }
    let mut plan = plan.clone();
    plan.body_capture_limit = config.max_body_capture;
    plan.max_redirects = config.max_redirects;
    plan.http_debug = crate::shard::http_debug::HttpDebug::new(config.http_debug);
    plan.signing = config.signing.clone();
    plan.s3_errors = config.object_report;
    let plan = Arc::new(plan);
    let ran = runtime::block_on(config.io_driver, |_| async {
        let connector = config.conn.connector(0);
        let client = Client::new(
            plan.origins.clone(),
            connector,
            config.limits,
            config.timeout,
            config.timeout,
        );
        let recorder = RefCell::new(Recorder::new(&plan.endpoints, false, Arc::from(Vec::new())));
        let stopping = Cell::new(false);
        let env = StepEnv {
            client: &client,
            recorder: &recorder,
            stopping: &stopping,
        };
        let mut user = VirtualUser::new(plan.clone(), 0, 0).with_cookies();
        let failure = user.run_steps(&plan.setup, &env, None).await;
        client.close_idle();
        match failure {
            Some(failure) => Err(format!(
                "setup failed: {} ({})",
                failure.message(&plan.messages),
                failure.kind().as_str()
            )),
            None => Ok((0..plan.var_names.len())
                .filter(|&slot| plan.initial_vars[slot].is_none())
                .filter_map(|slot| user.var(slot).map(|v| (slot, v.to_vec())))
                .collect()),
        }
    });
    ran.map_err(|e| format!("setup could not start a runtime: {e}"))?
}

/// Makes setup's values every user's starting values.
pub fn apply(plan: &mut Plan, values: SetupValues) {
    for (slot, value) in values {
        if let Some(initial) = plan.initial_vars.get_mut(slot) {
            *initial = Some(value);
        }
    }
}
