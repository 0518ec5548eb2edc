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

use crate::http::body_block::parse_body_size;
use crate::http::decode::decode_body;
use crate::http::s3_error::{parse_error_code, S3Error};
use crate::http::sigv4::Signer;
use crate::http::{Capture, Client, Exchange, Failure};
use crate::scenario::check::{self, CookieJar, CookieUrl, Response};
use crate::scenario::feeder::{Exhausted, Pick};
use crate::scenario::template::{RenderCtx, RenderError};
use crate::scenario::{BodySize, Plan, RequestStep, Step};
use crate::shard::{http_debug, runtime, yield_now, Shard};
use crate::stats::recorder::Recorder;

/// Iterations a user runs back to back before letting its shard's other
/// tasks run; a fast target can answer without the runtime ever parking.
const YIELD_EVERY: u32 = 16;
/// Longest single sleep, so a stop is noticed promptly during waits.
const SLEEP_SLICE: Duration = Duration::from_millis(100);

/// Why a templated request could not be rendered.
enum StepRenderError {
    /// A variable was unset or unsafe.
    Template(RenderError),
    /// A value was unusable (a `body_size` that is no size or too large):
    /// the id of the message counted.
    Message(u32),
}

mod redirect;
use redirect::is_redirect;

impl From<RenderError> for StepRenderError {
    fn from(error: RenderError) -> Self {
        StepRenderError::Template(error)
    }
}

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
    /// Where the request (or redirect hop) in flight goes: the jar picks
    /// the cookies it carries by it, and files the cookies its response
    /// sets under it.
    url: CookieUrl,
    /// Random source for task picks, waits and built-ins.
    pub rng: fastrand::Rng,
    /// The rendered request.
    request: Vec<u8>,
    /// The rendered body, before it joins the request.
    body: Vec<u8>,
    /// A `body_size` request's body: a slice of the shared body block,
    /// written after `request` (empty for other requests).
    body_slice: &'static [u8],
    /// The body slice the current redirect hop carries on.
    hop_body: &'static [u8],
    /// What of each response is kept for checks and extractors.
    capture: Capture,
    /// The request of the current redirect hop.
    hop: Vec<u8>,
    /// Where the next hop's request is built.
    hop_next: Vec<u8>,
    /// A compressed body, decoded for checks and extractors; lent by the
    /// shard (as the capture's buffers are) only while a response is judged.
    decoded: Vec<u8>,
    /// Signs each request (`--aws-sigv4`) that its step does not sign
    /// with a scope of its own.
    signer: Option<Signer>,
    /// Signs the steps with a scenario's `aws_sigv4` scope: one per
    /// scope, indexed as the plan's `scoped_signing`.
    scoped_signers: Vec<Signer>,
    /// Next task when tasks run in order.
    next_task: usize,
}

impl VirtualUser {
    /// A user of `class` with global number `user_id`.
    pub fn new(plan: Arc<Plan>, class: usize, user_id: u64) -> Self {
        let cookies = plan.classes.get(class).is_some_and(|c| c.cookies);
        let body_limit = plan.body_capture_limit;
        let signer = plan.signing.clone().map(Signer::new);
        let scoped_signers = plan
            .scoped_signing
            .iter()
            .cloned()
            .map(Signer::new)
            .collect();
        VirtualUser {
            vars: plan.initial_vars.clone(),
            plan,
            class,
            user_id,
            iteration: 0,
            cookies,
            jar: CookieJar::default(),
            url: CookieUrl::default(),
            rng: fastrand::Rng::with_seed(user_id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5EED),
            request: Vec::with_capacity(512),
            body: Vec::new(),
            body_slice: &[],
            hop_body: &[],
            capture: Capture::with_body_limit(body_limit),
            hop: Vec::new(),
            hop_next: Vec::new(),
            decoded: Vec::new(),
            signer,
            scoped_signers,
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
                Step::Request(request) if !self.holds(&request.when) => {}
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

    /// True when every (slot, value) of a step's `when` holds.
    fn holds(&self, when: &[(usize, Vec<u8>)]) -> bool {
        when.iter()
            .all(|(slot, value)| self.vars[*slot].as_deref() == Some(value.as_slice()))
    }

    /// Sends one request and records its outcome.
    async fn request(
        &mut self,
        step: &RequestStep,
        env: &StepEnv<'_>,
        intended: Option<Instant>,
    ) -> Option<Failure> {
        self.request.clear();
        self.body_slice = &[];
        let https = self.cookies && env.client.is_https(step.origin);
        match &step.fixed {
            Some(fixed) => {
                self.request.extend_from_slice(fixed);
                if self.cookies {
                    self.url.read_request(&self.request, https);
                }
            }
            None => {
                if let Err(error) = self.render(step, https) {
                    let message = match error {
                        StepRenderError::Template(RenderError::Unset(slot)) => {
                            self.plan.unset_messages[slot]
                        }
                        StepRenderError::Template(RenderError::Unsafe(slot)) => {
                            self.plan.unsafe_messages[slot]
                        }
                        StepRenderError::Message(message) => message,
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
        // A signed request goes to S3 (or a service speaking its API), as
        // does every request of an object workload: its error bodies are
        // read for their code.
        let signer = signer_of(&mut self.signer, &mut self.scoped_signers, step.signing);
        let s3_errors = signer.is_some() || self.plan.s3_errors;
        if let Some(signer) = signer {
            let now = std::time::SystemTime::now();
            match &step.fixed {
                // A fixed request is known by its step's address.
                Some(_) => signer.sign_fixed(&mut self.request, step as *const _ as usize, now),
                None => signer.sign_with_body(&mut self.request, self.body_slice, now),
            }
        }
        self.decoded.clear();
        let follow = step.follow_redirects && self.plan.max_redirects > 0;
        // Decoding a wanted body needs its Content-Encoding, from the head.
        self.capture.want_head = step.capture_head || step.capture_body;
        self.capture.want_body = step.capture_body;
        self.capture.want_redirect_head = follow;
        self.capture.want_error_sample = true;
        let debug = self.plan.http_debug.take_one();
        if debug {
            self.capture.want_head = true;
            self.capture.want_body = true;
        }
        env.recorder.borrow_mut().start_request(step.endpoint);
        let sent_at = Instant::now();
        let mut origin = step.origin;
        let mut is_head = step.is_head;
        let mut hops = 0u32;
        // Hops that reached the server (a response came): the redirects counted.
        let mut answered_hops = 0u32;
        let mut hop_bytes = 0u64;
        let outcome = loop {
            let (request, body) = if hops == 0 {
                (&self.request, self.body_slice)
            } else {
                (&self.hop, self.hop_body)
            };
            let outcome = env
                .client
                .send_parts(
                    origin,
                    (request, body),
                    is_head,
                    step.timeout,
                    &mut self.capture,
                )
                .await;
            if hops > 0 && outcome.is_ok() {
                answered_hops += 1;
            }
            if debug {
                http_debug::print(
                    request,
                    outcome.as_ref().ok().map(|e| e.status),
                    &self.capture,
                );
            }
            match outcome {
                Ok(exchange) if follow && is_redirect(exchange.status) => {
                    hop_bytes += exchange.bytes_received;
                    if self.cookies {
                        self.jar.store(&self.capture.head, &self.url);
                    }
                    if hops >= self.plan.max_redirects {
                        break Err(Failure::TooManyRedirects);
                    }
                    let hop = (hops == 0, step.origin, origin, exchange.status);
                    match self.next_hop(hop, step.signing, env.client) {
                        Ok(next) => (origin, is_head) = next,
                        Err(failure) => break Err(failure),
                    }
                    hops += 1;
                }
                outcome => break outcome,
            }
        };
        // A response ends when the read that brought its last byte returned.
        let done_at = match &outcome {
            Ok(exchange) => exchange.done_at,
            Err(_) => Instant::now(),
        };
        let service = done_at.saturating_duration_since(sent_at);
        let started_at = intended.unwrap_or(sent_at);
        let latency = done_at.saturating_duration_since(started_at);
        // The body counts as sent once a response came (a redirect that
        // sent it again does not count it twice).
        let body_sent = match &step.fixed {
            Some(_) => step.fixed_body_bytes,
            None => self.body.len() as u64,
        };
        let (bytes, body_bytes, status, failure, ttfb) = match outcome {
            Err(failure) => (hop_bytes, 0, 0, Some(failure), None),
            Ok(exchange) => {
                let ttfb = exchange.first_byte_at.saturating_duration_since(started_at);
                (
                    hop_bytes + exchange.bytes_received,
                    exchange.body_bytes,
                    exchange.status,
                    self.judge(step, &exchange, service, env.client, s3_errors),
                    Some(ttfb),
                )
            }
        };
        let decoded = if self.decoded.is_empty() {
            0
        } else {
            self.decoded.len() as u64
        };
        let mut recorder = env.recorder.borrow_mut();
        recorder.end_request(step.endpoint);
        recorder.record(step.endpoint, bytes, failure, latency, service, ttfb);
        let sent = if status == 0 { 0 } else { body_sent };
        recorder.record_sizes(step.endpoint, body_bytes, decoded, sent);
        if answered_hops > 0 {
            recorder.record_redirects(step.endpoint, u64::from(answered_hops));
        }
        if let Some(failure) = failure {
            if recorder.wants_sample(step.endpoint, failure) {
                let request = if hops == 0 { &self.request } else { &self.hop };
                let line = request_line(request, env.client, origin);
                // Without a response, the capture may still hold an earlier hop's.
                let body: &[u8] = if status == 0 { &[] } else { &self.capture.body };
                recorder.record_sample(step.endpoint, failure, line, status, body);
            }
        }
        // The response is judged: its buffers go back to the shard, so a
        // user keeps no body (up to --max-body-capture) between requests.
        env.client.release_capture(&mut self.capture);
        env.client.give_body_buffer(&mut self.decoded);
        failure
    }

    /// Decides whether a response failed, and extracts values from it;
    /// a body to decode is decoded into a buffer lent by `client`. With
    /// `s3_errors`, an error status whose body is an S3 error document
    /// fails under the document's code rather than as a plain status.
    fn judge(
        &mut self,
        step: &RequestStep,
        exchange: &Exchange,
        elapsed: Duration,
        client: &Client,
        s3_errors: bool,
    ) -> Option<Failure> {
        let status = exchange.status;
        let bytes_failure = match &step.expect_body_bytes {
            Some(expect) => self.body_bytes_failure(expect, exchange.body_bytes),
            None => None,
        };
        if self.cookies {
            self.jar.store(&self.capture.head, &self.url);
        }
        // A compressed body is decoded before anything reads it.
        let mut decode_failure = None;
        let mut body = &self.capture.body;
        if step.capture_body && !self.capture.body_truncated {
            if let Some(coding) = check::header(&self.capture.head, "content-encoding") {
                if self.decoded.capacity() == 0 {
                    self.decoded = client.take_body_buffer();
                }
                let limit = self.plan.body_capture_limit;
                match decode_body(coding, &self.capture.body, limit, &mut self.decoded) {
                    Ok(()) => body = &self.decoded,
                    Err(failure) => decode_failure = Some(failure),
                }
            }
        }
        let response = Response {
            status,
            head: &self.capture.head,
            body,
            elapsed,
        };
        // The capture kept the body's first bytes (a failure sample's worth,
        // or all of a wanted body up to its limit): S3 puts the code first.
        // An error status the step's own status check accepts (a step that
        // expects 404) is no S3 failure; one it refuses is, as S3 named it.
        let s3_failure = || {
            let refused = status >= 400
                && !(step.status_checked && check::status_accepted(&step.checks, status));
            let code = (s3_errors && refused)
                .then(|| parse_error_code(body))
                .flatten();
            code.map(|code| Failure::S3 {
                error: S3Error::from_code(code),
                status,
            })
        };
        let mut failure = if !step.status_checked && status >= 400 {
            Some(s3_failure().unwrap_or(Failure::Status(status)))
        } else {
            s3_failure()
        };
        failure = failure.or(decode_failure);
        if failure.is_none() && step.capture_body && self.capture.body_truncated {
            failure = Some(Failure::BodyTooLarge);
        }
        if failure.is_none() {
            failure = check::first_failure(&step.checks, &response).map(Failure::Check);
        }
        failure = failure.or(bytes_failure);
        for extract in &step.extracts {
            let value = self.vars[extract.slot].get_or_insert_with(Vec::new);
            if !check::extract_into(&extract.source, &response, &self.jar, value) {
                self.vars[extract.slot] = None;
                failure = failure.or(Some(Failure::Check(extract.message)));
            }
        }
        failure
    }

    /// Renders a templated request into `self.request`; `https` says how
    /// it goes, for the cookies it carries.
    fn render(&mut self, step: &RequestStep, https: bool) -> Result<(), StepRenderError> {
        let mut ctx = RenderCtx {
            vars: &self.vars,
            user_id: self.user_id,
            iteration: self.iteration,
            rng: &mut self.rng,
        };
        step.head.render(&mut ctx, &mut self.request)?;
        self.body.clear();
        match &step.body_size {
            // The size's text goes where a body would, then the slice is taken.
            Some(size) => size.size.render(&mut ctx, &mut self.body)?,
            None => step.body.render(&mut ctx, &mut self.body)?,
        }
        if let Some(size) = &step.body_size {
            let slice = parse_body_size(&self.body)
                .and_then(|len| usize::try_from(len).ok())
                .and_then(|len| self.plan.body_block.slice(len, &mut self.rng));
            self.body_slice = slice.ok_or(StepRenderError::Message(size.message))?;
            self.body.clear();
        }
        if self.cookies {
            self.url.read_request(&self.request, https);
            self.jar.write_header(&mut self.request, &self.url);
        }
        let body_len = self.body.len() + self.body_slice.len();
        if body_len > 0 || step.body_size.is_some() {
            use std::io::Write;
            let _ = write!(self.request, "Content-Length: {body_len}\r\n");
        }
        self.request.extend_from_slice(b"\r\n");
        self.request.extend_from_slice(&self.body);
        Ok(())
    }

    /// `check.body_bytes`: the failure when the response body's length is
    /// not the rendered count (or the count renders to no size).
    fn body_bytes_failure(&mut self, expect: &BodySize, body_bytes: u64) -> Option<Failure> {
        let mut ctx = RenderCtx {
            vars: &self.vars,
            user_id: self.user_id,
            iteration: self.iteration,
            rng: &mut self.rng,
        };
        self.body.clear();
        let rendered = expect.size.render(&mut ctx, &mut self.body);
        let expected = rendered.ok().and_then(|()| parse_body_size(&self.body));
        (expected != Some(body_bytes)).then_some(Failure::Check(expect.message))
    }
}

/// The signer of a step: its own scope's (`signing`, an index into
/// `scoped`), else the run's, else none.
fn signer_of<'s>(
    run: &'s mut Option<Signer>,
    scoped: &'s mut [Signer],
    signing: Option<usize>,
) -> Option<&'s mut Signer> {
    match signing {
        Some(index) => scoped.get_mut(index),
        None => run.as_mut(),
    }
}

/// `METHOD http(s)://authority/path` of a rendered request, for failure samples.
fn request_line(request: &[u8], client: &Client, origin: usize) -> String {
    let line_end = request
        .iter()
        .position(|&b| b == b'\r')
        .unwrap_or(request.len());
    let line = String::from_utf8_lossy(&request[..line_end]);
    let mut parts = line.split(' ');
    let method = parts.next().unwrap_or("");
    let target = parts.next().unwrap_or("");
    let host = check::header(request, "host").map(String::from_utf8_lossy);
    let scheme = if client.is_https(origin) {
        "https"
    } else {
        "http"
    };
    match host {
        Some(host) => format!("{method} {scheme}://{host}{target}"),
        None => format!("{method} {target}"),
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
        None if shard.plan.feeders[feeder].exhausted == Exhausted::Continue => true,
        None => {
            shard.rows_exhausted.set(true);
            false
        }
    }
}
