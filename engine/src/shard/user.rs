//! Virtual users: the state machine that steps a user through its class's
//! plan, and the closed-loop life of one user on a shard.
//!
//! A [`VirtualUser`] owns its variables, cookie jar, random source and the
//! buffers its requests are rendered into; after warm-up a request costs no
//! allocation. It takes a pooled connection for each request (the client
//! does), checks and extracts from the captured response, and records the
//! outcome. [`run`] adds the closed loop around it: feeder rows, `on_start`,
//! weighted tasks with waits until the shard stops, then `on_stop`. Open-loop
//! workers (`arrivals`) and the setup phase drive the same type.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::http::{Capture, Client, Failure};
use crate::scenario::check::{self, CookieJar, Response};
use crate::scenario::feeder::{Exhausted, Pick};
use crate::scenario::template::{RenderCtx, RenderError};
use crate::scenario::{Plan, RequestStep, Step};
use crate::shard::{runtime, yield_now, Shard};
use crate::stats::recorder::Recorder;

/// Iterations a user runs back to back before letting its shard's other
/// tasks run; a fast target can answer without the runtime ever parking.
const YIELD_EVERY: u32 = 16;
/// Longest single sleep, so a stop is noticed promptly during waits.
const SLEEP_SLICE: Duration = Duration::from_millis(100);

/// What a user needs from its surroundings to run steps.
pub struct StepEnv<'a> {
    /// The shard's (or setup's) HTTP client.
    pub client: &'a Client,
    /// Where outcomes are recorded.
    pub recorder: &'a RefCell<Recorder>,
    /// Set when the run is stopping.
    pub stopping: &'a Cell<bool>,
}

impl<'a> StepEnv<'a> {
    /// The environment of a shard's users.
    pub fn of(shard: &'a Shard) -> Self {
        StepEnv {
            client: &shard.client,
            recorder: &shard.recorder,
            stopping: &shard.stopping,
        }
    }
}

/// One virtual user's state.
pub struct VirtualUser {
    /// The plan, shared read-only.
    plan: Arc<Plan>,
    /// Index of the user's class.
    pub class: usize,
    /// Global user number (`${user_id}`).
    user_id: u64,
    /// Completed iterations (`${iteration}`).
    pub iteration: u64,
    /// Variable values by slot.
    vars: Vec<Option<Vec<u8>>>,
    /// Whether to keep and send cookies.
    cookies: bool,
    /// Cookies set by responses.
    jar: CookieJar,
    /// Random source for task picks, waits and built-ins.
    pub rng: fastrand::Rng,
    /// The rendered request.
    request: Vec<u8>,
    /// The rendered body, before it joins the request.
    body: Vec<u8>,
    /// What of each response is kept for checks and extractors.
    capture: Capture,
    /// Next task when tasks run in order.
    next_task: usize,
}

impl VirtualUser {
    /// A user of `class` with global number `user_id`.
    pub fn new(plan: Arc<Plan>, class: usize, user_id: u64) -> Self {
        let cookies = plan.classes.get(class).is_some_and(|c| c.cookies);
        let body_limit = plan.body_capture_limit;
        VirtualUser {
            vars: plan.initial_vars.clone(),
            plan,
            class,
            user_id,
            iteration: 0,
            cookies,
            jar: CookieJar::default(),
            rng: fastrand::Rng::with_seed(user_id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5EED),
            request: Vec::with_capacity(512),
            body: Vec::new(),
            capture: Capture {
                body_limit,
                ..Capture::default()
            },
            next_task: 0,
        }
    }

    /// The shard's user numbered `local` (closed-loop user or open-loop
    /// worker): its global number interleaves shards and follows the
    /// process's `user_base`, and picks its class.
    pub fn on_shard(shard: &Shard, local: u64) -> Self {
        let plan = shard.plan.clone();
        let user_id = plan.user_base + local * shard.shards as u64 + shard.index as u64;
        let class = plan.class_for(user_id);
        VirtualUser::new(plan, class, user_id)
    }

    /// Turns cookie handling on (setup uses it without a class).
    pub fn with_cookies(mut self) -> Self {
        self.cookies = true;
        self
    }

    /// The value of a variable slot.
    pub fn var(&self, slot: usize) -> Option<&[u8]> {
        self.vars.get(slot)?.as_deref()
    }

    /// Copies a feeder row into the variables of its columns.
    pub fn take_row(&mut self, feeder: usize, row: usize) {
        let plan = self.plan.clone();
        let feeder = &plan.feeders[feeder];
        for (slot, value) in feeder.slots.iter().zip(&feeder.rows[row]) {
            let var = self.vars[*slot].get_or_insert_with(Vec::new);
            var.clear();
            var.extend_from_slice(value.as_bytes());
        }
    }

    /// The next task of this user's class.
    pub fn pick_task(&mut self) -> usize {
        let class = &self.plan.classes[self.class];
        if class.sequential {
            let task = self.next_task % class.tasks.len();
            self.next_task = task + 1;
            task
        } else {
            class.task_for(self.rng.u32(..class.total_weight()))
        }
    }

    /// Runs steps in order; returns the first failure. A step that cannot be
    /// rendered ends the list (the rest would lack its values). `intended`
    /// is the open-loop send time of the first request.
    pub async fn run_steps(
        &mut self,
        steps: &[Step],
        env: &StepEnv<'_>,
        mut intended: Option<Instant>,
    ) -> Option<Failure> {
        let mut first = None;
        for step in steps {
            match step {
                Step::Sleep(d) => sleep_unless_stopped(*d, env.stopping).await,
                Step::Request(request) => {
                    let failure = self.request(request, env, intended.take()).await;
                    if first.is_none() {
                        first = failure;
                    }
                    if matches!(failure, Some(Failure::Template(_))) {
                        break;
                    }
                }
            }
        }
        first
    }

    /// Sends one request and records its outcome.
    async fn request(
        &mut self,
        step: &RequestStep,
        env: &StepEnv<'_>,
        intended: Option<Instant>,
    ) -> Option<Failure> {
        self.request.clear();
        match &step.fixed {
            Some(fixed) => self.request.extend_from_slice(fixed),
            None => {
                if let Err(error) = self.render(step) {
                    let message = match error {
                        RenderError::Unset(slot) => self.plan.unset_messages[slot],
                        RenderError::Unsafe(slot) => self.plan.unsafe_messages[slot],
                    };
                    let failure = Failure::Template(message);
                    env.recorder.borrow_mut().record(
                        step.endpoint,
                        0,
                        Some(failure),
                        Duration::ZERO,
                        Duration::ZERO,
                        None,
                    );
                    return Some(failure);
                }
            }
        }
        self.capture.want_head = step.capture_head;
        self.capture.want_body = step.capture_body;
        let sent_at = Instant::now();
        let outcome = env
            .client
            .send(
                step.origin,
                &self.request,
                step.is_head,
                step.timeout,
                &mut self.capture,
            )
            .await;
        // A response ends when the read that brought its last byte returned.
        let done_at = match &outcome {
            Ok(exchange) => exchange.done_at,
            Err(_) => Instant::now(),
        };
        let service = done_at.saturating_duration_since(sent_at);
        let started_at = intended.unwrap_or(sent_at);
        let latency = done_at.saturating_duration_since(started_at);
        let (bytes, failure, ttfb) = match outcome {
            Err(failure) => (0, Some(failure), None),
            Ok(exchange) => {
                let ttfb = exchange.first_byte_at.saturating_duration_since(started_at);
                (
                    exchange.bytes_received,
                    self.judge(step, exchange.status, service),
                    Some(ttfb),
                )
            }
        };
        env.recorder
            .borrow_mut()
            .record(step.endpoint, bytes, failure, latency, service, ttfb);
        failure
    }

    /// Decides whether a response failed, and extracts values from it.
    fn judge(&mut self, step: &RequestStep, status: u16, elapsed: Duration) -> Option<Failure> {
        if self.cookies {
            self.jar.store(&self.capture.head);
        }
        let response = Response {
            status,
            head: &self.capture.head,
            body: &self.capture.body,
            elapsed,
        };
        let mut failure = if !step.status_checked && status >= 400 {
            Some(Failure::Status(status))
        } else {
            None
        };
        if failure.is_none() {
            failure = check::first_failure(&step.checks, &response).map(Failure::Check);
        }
        if failure.is_none() && step.capture_body && self.capture.body_truncated {
            failure = Some(Failure::BodyTooLarge);
        }
        for extract in &step.extracts {
            let value = self.vars[extract.slot].get_or_insert_with(Vec::new);
            if !check::extract_into(&extract.source, &response, &self.jar, value) {
                self.vars[extract.slot] = None;
                failure = failure.or(Some(Failure::Check(extract.message)));
            }
        }
        failure
    }

    /// Renders a templated request into `self.request`.
    fn render(&mut self, step: &RequestStep) -> Result<(), RenderError> {
        let mut ctx = RenderCtx {
            vars: &self.vars,
            user_id: self.user_id,
            iteration: self.iteration,
            rng: &mut self.rng,
        };
        step.head.render(&mut ctx, &mut self.request)?;
        self.body.clear();
        step.body.render(&mut ctx, &mut self.body)?;
        if self.cookies {
            self.jar.write_header(&mut self.request);
        }
        if !self.body.is_empty() {
            use std::io::Write;
            let _ = write!(self.request, "Content-Length: {}\r\n", self.body.len());
        }
        self.request.extend_from_slice(b"\r\n");
        self.request.extend_from_slice(&self.body);
        Ok(())
    }
}

/// Sleeps for `duration`, waking early when the run stops.
pub async fn sleep_unless_stopped(duration: Duration, stopping: &Cell<bool>) {
    let until = Instant::now() + duration;
    while !stopping.get() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        runtime::sleep(left.min(SLEEP_SLICE)).await;
    }
}

/// Runs one closed-loop user until its shard stops it or the budget ends.
/// `local` is the user's number on this shard.
pub async fn run(shard: Rc<Shard>, local: u64) {
    let depth = shard.client.pipeline_depth();
    if depth > 1 {
        return crate::shard::pipeline::run_user(shard, depth).await;
    }
    shard.users_running.set(shard.users_running.get() + 1);
    let plan = shard.plan.clone();
    let mut user = VirtualUser::on_shard(&shard, local);
    let class = &plan.classes[user.class];
    let env = StepEnv::of(&shard);
    let per_iteration = picks_per_iteration(&plan, user.class);
    if !shard.stopping.get() && (per_iteration || feed(&shard, &mut user)) {
        user.run_steps(&class.on_start, &env, None).await;
        let mut since_yield = 0;
        let mut backoff = Duration::ZERO;
        while !shard.stopping.get() && shard.user_stays() && shard.take_permit() {
            let started = Instant::now();
            if per_iteration && !feed(&shard, &mut user) {
                break;
            }
            let task = user.pick_task();
            let failure = user.run_steps(&class.tasks[task].steps, &env, None).await;
            user.iteration += 1;
            // A refused (or failed) connect: pause, longer each time in a row,
            // so a dead target gets a trickle of attempts, not a flood.
            backoff = connect_backoff(failure, backoff, shard.connect_backoff_max);
            if !backoff.is_zero() {
                shard.connect_backoffs.set(shard.connect_backoffs.get() + 1);
                sleep_unless_stopped(backoff, &shard.stopping).await;
            }
            let wait = class.wait.after(started.elapsed(), user.rng.f64());
            if !wait.is_zero() {
                sleep_unless_stopped(wait, &shard.stopping).await;
                since_yield = 0;
                continue;
            }
            since_yield += 1;
            // A failing target (refused connects) can fail without ever blocking.
            if failure.is_some() || since_yield >= YIELD_EVERY {
                since_yield = 0;
                yield_now().await;
            }
        }
        user.run_steps(&class.on_stop, &env, None).await;
    }
    shard.users_running.set(shard.users_running.get() - 1);
}

/// First pause after a failed connect; each one in a row doubles it, up to the maximum.
const CONNECT_BACKOFF_FIRST: Duration = Duration::from_millis(10);

/// The pause after an iteration: none after one that connected, else the
/// last pause doubled (from `CONNECT_BACKOFF_FIRST`), at most `max`.
pub fn connect_backoff(failure: Option<Failure>, last: Duration, max: Duration) -> Duration {
    let connect_failed = failure.is_some_and(|f| f.kind() == stampede_proto::FailureKind::Connect);
    if !connect_failed || max.is_zero() {
        return Duration::ZERO;
    }
    (last * 2).max(CONNECT_BACKOFF_FIRST).min(max)
}

/// True when the class's feeder hands out a row per iteration.
pub fn picks_per_iteration(plan: &Plan, class: usize) -> bool {
    plan.classes[class]
        .feeder
        .is_some_and(|f| plan.feeders[f].pick == Pick::PerIteration)
}

/// Gives the user the next row of its class's feeder; false when rows ran
/// out and the feeder says such users stop.
pub fn feed(shard: &Shard, user: &mut VirtualUser) -> bool {
    let Some(feeder) = shard.plan.classes[user.class].feeder else {
        return true;
    };
    match shard.next_row(feeder, &mut user.rng) {
        Some(row) => {
            user.take_row(feeder, row);
            true
        }
        None => shard.plan.feeders[feeder].exhausted == Exhausted::Continue,
    }
}
