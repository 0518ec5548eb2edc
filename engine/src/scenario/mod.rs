//! Scenarios compiled into a [`Plan`]: the user classes, their tasks and
//! steps, variables, feeders and setup, ready for users to step through.
//!
//! A scenario file (TOML, see docs/scenario.md) is read by [`model`] and
//! compiled by [`compile`]; a plain `--host` run builds the same shape with
//! one class, one task and one pre-encoded request. The plan is immutable and
//! shared read-only by every shard; requests are encoded once where nothing
//! is templated, and otherwise rendered from pre-split templates.

pub mod check;
pub mod compile;
pub mod cookie;
pub mod feeder;
pub mod model;
pub mod template;
pub mod wait;

use std::time::Duration;

use crate::config::RunConfig;
use crate::http::{encode_request, RequestSpec};
pub use compile::{ScenarioDoc, ScenarioError};
use template::Template;
use wait::Wait;

/// One request of a step, ready to render.
#[derive(Debug, Clone)]
pub struct RequestStep {
    /// Index into the plan's endpoints, for stats.
    pub endpoint: usize,
    /// Index into the plan's origins, for the connection pool.
    pub origin: usize,
    /// HEAD requests get responses without a body.
    pub is_head: bool,
    /// The whole request when nothing in it is templated.
    pub fixed: Option<Vec<u8>>,
    /// Request line, Host, User-Agent and headers, each line ending in CRLF.
    pub head: Template,
    /// The body; empty for none.
    pub body: Template,
    /// Timeout for this step instead of the run's.
    pub timeout: Option<Duration>,
    /// Conditions on the response.
    pub checks: Vec<check::Check>,
    /// Values taken from the response.
    pub extracts: Vec<check::Extract>,
    /// A status check replaces the default rule that 4xx/5xx fail.
    pub status_checked: bool,
    /// Keep the response head (header checks, extractors, cookies).
    pub capture_head: bool,
    /// Keep the response body (body checks, extractors).
    pub capture_body: bool,
    /// Follow redirects (up to the plan's `max_redirects`).
    pub follow_redirects: bool,
    /// `body_size`: the body is this many bytes of the plan's shared body
    /// block instead of `body`.
    pub body_size: Option<BodySize>,
    /// `check.body_bytes`: the response body must have exactly this many
    /// bytes (as framed, before any content decoding).
    pub expect_body_bytes: Option<BodySize>,
    /// `when`: the step runs only when each variable (by slot) holds
    /// exactly this value; otherwise it is skipped (not sent, not counted).
    pub when: Vec<(usize, Vec<u8>)>,
}

/// A templated byte count and the message counted when its rendered value
/// is no size (or, for a request body, more than the shared block holds).
#[derive(Debug, Clone)]
pub struct BodySize {
    /// Renders to a size such as `4096` or `4KiB`.
    pub size: Template,
    /// Index into the plan's messages.
    pub message: u32,
}

/// One step of a task.
#[derive(Debug, Clone)]
pub enum Step {
    /// Send a request.
    Request(Box<RequestStep>),
    /// Pause.
    Sleep(Duration),
}

/// A task: steps run in order.
#[derive(Debug, Clone)]
pub struct Task {
    /// Name, for messages.
    pub name: String,
    /// The steps.
    pub steps: Vec<Step>,
}

/// A kind of user.
#[derive(Debug, Clone)]
pub struct UserClass {
    /// Name in reports.
    pub name: String,
    /// Wait after each iteration.
    pub wait: Wait,
    /// Feeder whose rows users of this class take.
    pub feeder: Option<usize>,
    /// Keep a cookie jar and send cookies back.
    pub cookies: bool,
    /// Run tasks in order instead of by weight.
    pub sequential: bool,
    /// Steps run once when a user starts.
    pub on_start: Vec<Step>,
    /// Steps run once when a user stops.
    pub on_stop: Vec<Step>,
    /// The tasks.
    pub tasks: Vec<Task>,
    /// Cumulative task weights, for picking by weight.
    pub task_weights: Vec<u32>,
}

impl UserClass {
    /// The task for a draw in `0..total weight`.
    pub fn task_for(&self, draw: u32) -> usize {
        self.task_weights
            .partition_point(|&cumulative| cumulative <= draw)
    }

    /// Sum of the task weights.
    pub fn total_weight(&self) -> u32 {
        self.task_weights.last().copied().unwrap_or(0)
    }
}

/// A compiled scenario.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Each origin: socket address and, for https, its TLS server name.
    pub origins: Vec<crate::http::Origin>,
    /// (method, name) of each endpoint, as reported.
    pub endpoints: Vec<(String, String)>,
    /// Texts of check and template failures, indexed by their ids.
    pub messages: Vec<String>,
    /// Variable names by slot.
    pub var_names: Vec<String>,
    /// Message id of "variable not set" for each slot.
    pub unset_messages: Vec<u32>,
    /// Message id of "variable holds a line break" for each slot.
    pub unsafe_messages: Vec<u32>,
    /// Values every user starts with: constants, then setup's extractions.
    pub initial_vars: Vec<Option<Vec<u8>>>,
    /// Steps run once before any user starts.
    pub setup: Vec<Step>,
    /// User classes.
    pub classes: Vec<UserClass>,
    /// Users with a fixed class, in spawn order: (class, count).
    pub fixed_counts: Vec<(usize, u32)>,
    /// One cycle of weighted classes for the other users.
    pub class_cycle: Vec<usize>,
    /// Feeders.
    pub feeders: Vec<feeder::Feeder>,
    /// Threshold expressions from the scenario, `endpoint: expr` or `expr`.
    pub thresholds: Vec<String>,
    /// Global number of this process's first user (a worker's share starts
    /// past the users of the workers before it).
    pub user_base: u64,
    /// Most bytes of a response body kept for checks and extractors (the
    /// run's `--max-body-capture`).
    pub body_capture_limit: usize,
    /// Redirects a request follows at most (`--max-redirects`).
    pub max_redirects: u32,
    /// Exchanges still to print (`--http-debug`), shared by the shards.
    pub http_debug: crate::shard::http_debug::HttpDebug,
    /// `--aws-sigv4`: every request is signed with this.
    pub signing: Option<std::sync::Arc<crate::http::sigv4::SigningConfig>>,
    /// The shared body block `body_size` steps slice (empty without them).
    pub body_block: crate::http::body_block::BodyBlock,
}

impl Plan {
    /// The plan of a single-URL run: one class whose only task sends one
    /// pre-encoded request, with no wait, checks or cookies.
    pub fn single_request(config: &RunConfig) -> Plan {
        let spec = RequestSpec {
            method: config.method.clone(),
            path: config.target.path.clone(),
            host: config.target.authority.clone(),
            headers: {
                let mut headers = config.headers.clone();
                let given = headers
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case("accept-encoding"));
                if config.compressed && !given {
                    headers.push(("Accept-Encoding".into(), compile::ACCEPT_ENCODING.into()));
                }
                headers
            },
            body: config.body.clone().into_bytes(),
        };
        let request = RequestStep {
            endpoint: 0,
            origin: 0,
            is_head: config.method == "HEAD",
            fixed: Some(encode_request(&spec)),
            head: Template::default(),
            body: Template::default(),
            timeout: None,
            checks: Vec::new(),
            extracts: Vec::new(),
            status_checked: false,
            capture_head: false,
            capture_body: false,
            follow_redirects: true,
            body_size: None,
            expect_body_bytes: None,
            when: Vec::new(),
        };
        let class = UserClass {
            name: "user".into(),
            wait: Wait::None,
            feeder: None,
            cookies: false,
            sequential: false,
            on_start: Vec::new(),
            on_stop: Vec::new(),
            tasks: vec![Task {
                name: "request".into(),
                steps: vec![Step::Request(Box::new(request))],
            }],
            task_weights: vec![1],
        };
        Plan {
            origins: vec![config.target.origin.clone()],
            endpoints: vec![(config.method.clone(), config.target.path.clone())],
            messages: Vec::new(),
            var_names: Vec::new(),
            unset_messages: Vec::new(),
            unsafe_messages: Vec::new(),
            initial_vars: Vec::new(),
            setup: Vec::new(),
            classes: vec![class],
            fixed_counts: Vec::new(),
            class_cycle: vec![0],
            feeders: Vec::new(),
            thresholds: Vec::new(),
            user_base: 0,
            body_capture_limit: config.max_body_capture,
            max_redirects: config.max_redirects,
            http_debug: crate::shard::http_debug::HttpDebug::new(config.http_debug),
            signing: config.signing.clone(),
            body_block: Default::default(),
        }
    }

    /// The class of the user with global number `user` (0-based, in spawn
    /// order): fixed-count classes first, then the weighted cycle, so class
    /// weights hold across all shards.
    pub fn class_for(&self, user: u64) -> usize {
        let mut left = user;
        for &(class, count) in &self.fixed_counts {
            if left < u64::from(count) {
                return class;
            }
            left -= u64::from(count);
        }
        if self.class_cycle.is_empty() {
            return self.fixed_counts.last().map_or(0, |&(class, _)| class);
        }
        self.class_cycle[(left % self.class_cycle.len() as u64) as usize]
    }

    /// Gives weighted classes new weights (`--class-weights`, or the web
    /// form's): `NAME=WEIGHT` pairs, comma-separated; classes not named keep
    /// theirs. A name that is no weighted class is an error.
    pub fn reweight(&mut self, text: &str) -> Result<(), String> {
        let mut weights: Vec<(usize, u32)> = Vec::new();
        for &class in &self.class_cycle {
            match weights.iter_mut().find(|(c, _)| *c == class) {
                Some((_, w)) => *w += 1,
                None => weights.push((class, 1)),
            }
        }
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = pair
                .split_once('=')
                .ok_or_else(|| format!("'{pair}': give NAME=WEIGHT"))?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("'{pair}': the weight must be a whole number"))?;
            let class = self
                .classes
                .iter()
                .position(|c| c.name == name.trim())
                .filter(|c| weights.iter().any(|(w, _)| w == c))
                .ok_or_else(|| {
                    format!(
                        "'{}' is not a weighted user class of the scenario",
                        name.trim()
                    )
                })?;
            if let Some(entry) = weights.iter_mut().find(|(c, _)| *c == class) {
                entry.1 = weight;
            }
        }
        weights.retain(|&(_, w)| w > 0);
        if weights.is_empty() && self.fixed_counts.is_empty() {
            return Err("every class weight is 0: no user would run".into());
        }
        let total: u64 = weights.iter().map(|&(_, w)| u64::from(w)).sum();
        if total > 100_000 {
            return Err("class weights add up to more than 100000".into());
        }
        // The cycle of the old weights, reduced: counts over the cycle are the weights.
        let gcd = weights.iter().fold(0, |g, &(_, w)| gcd(g, w)).max(1);
        let reduced: Vec<(usize, u32)> = weights.iter().map(|&(c, w)| (c, w / gcd)).collect();
        self.class_cycle = weighted_cycle(&reduced);
        Ok(())
    }

    /// True when some request of the plan carries header `name` (lower
    /// case) from the scenario or the flags, in its fixed text.
    pub fn sends_header(&self, name: &str) -> bool {
        let steps = self.classes.iter().flat_map(|c| {
            c.on_start
                .iter()
                .chain(&c.on_stop)
                .chain(c.tasks.iter().flat_map(|t| &t.steps))
        });
        steps.chain(&self.setup).any(|step| match step {
            Step::Request(request) => {
                request.head.has_header(name)
                    || request
                        .fixed
                        .as_ref()
                        .is_some_and(|fixed| template::writes_header(fixed, name))
            }
            Step::Sleep(_) => false,
        })
    }

    /// True when the plan is one fixed request and nothing else.
    pub fn is_single_request(&self) -> bool {
        self.setup.is_empty() && self.classes.len() == 1 && self.var_names.is_empty()
    }
}

/// Greatest common divisor (0 with anything is that thing).
fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// One cycle of classes by weight, interleaved smoothly (weights 3:1 give
/// a, a, b, a rather than a, a, a, b).
pub fn weighted_cycle(weights: &[(usize, u32)]) -> Vec<usize> {
    let total: u32 = weights.iter().map(|&(_, w)| w).sum();
    let mut current: Vec<i64> = vec![0; weights.len()];
    let mut cycle = Vec::with_capacity(total as usize);
    for _ in 0..total {
        for (i, &(_, w)) in weights.iter().enumerate() {
            current[i] += i64::from(w);
        }
        let Some(best) = (0..weights.len()).max_by_key(|&i| (current[i], std::cmp::Reverse(i)))
        else {
            break;
        };
        current[best] -= i64::from(total);
        cycle.push(weights[best].0);
    }
    cycle
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Weighted cycles hold the weights exactly and interleave them.
    #[test]
    fn weighted_cycles() {
        let cycle = weighted_cycle(&[(0, 3), (1, 1)]);
        assert_eq!(cycle.len(), 4);
        assert_eq!(cycle.iter().filter(|&&c| c == 1).count(), 1);
        assert_ne!(cycle, vec![0, 0, 0, 1]);
        let cycle = weighted_cycle(&[(2, 1), (5, 2), (7, 2)]);
        assert_eq!(cycle.iter().filter(|&&c| c == 5).count(), 2);
        assert_eq!(cycle.iter().filter(|&&c| c == 2).count(), 1);
    }
}
