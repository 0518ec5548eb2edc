//! `--pipeline N`: a closed-loop user of a single-URL run that keeps up to N
//! requests in flight on its connection (HTTP/1.1 pipelining, as wrk does
//! with a Lua script).
//!
//! Each round takes up to N permits (so `--iterations` stays exact), writes
//! that many copies of the pre-encoded request in one write, and records
//! every response as it completes, in order, with its latency from the
//! round's send to the arrival of its last byte (the read that brought it;
//! no clock read per response). Consecutive responses with the same times
//! and outcome, typically those one read brought, are recorded together.
//! Matching, retrying the unanswered rest after a server close, and counting
//! what is lost as failures are the client's job (`Client::pipeline`);
//! configuration refuses pipelining with scenarios.

use std::rc::Rc;
use std::time::Instant;

use crate::http::{Capture, Exchange, Failure};
use crate::scenario::Step;
use crate::shard::{yield_now, Shard};

/// Rounds a user runs back to back before letting other tasks run.
const YIELD_EVERY: u32 = 4;

/// Responses of one round with the same outcome and times, recorded
/// together: the responses completed by one read share their first-byte and
/// done times (see `Conn::fill`), so a round of N costs a few histogram
/// updates instead of N.
#[derive(Default)]
struct Run {
    /// Failure, first-byte time (none without a response) and done time
    /// shared by the run's responses.
    key: (Option<Failure>, Option<Instant>, Option<Instant>),
    /// Responses in the run.
    count: u64,
    /// Their bytes received, together.
    bytes: u64,
    /// Their body bytes, together.
    body_bytes: u64,
    /// Their requests' body bytes, together.
    body_bytes_sent: u64,
}

impl Run {
    /// Records the run's responses, their times measured from `sent_at`,
    /// and starts an empty run.
    fn flush(&mut self, shard: &Shard, endpoint: usize, sent_at: Instant) {
        if self.count == 0 {
            return;
        }
        let (failure, first_byte_at, done_at) = self.key;
        let done_at = done_at.unwrap_or(sent_at);
        let service = done_at.saturating_duration_since(sent_at);
        let ttfb = first_byte_at.map(|at| at.saturating_duration_since(sent_at));
        let mut recorder = shard.recorder.borrow_mut();
        recorder.record_n(
            endpoint, self.count, self.bytes, failure, service, service, ttfb,
        );
        recorder.record_sizes(endpoint, self.body_bytes, 0, self.body_bytes_sent);
        self.count = 0;
        self.bytes = 0;
        self.body_bytes = 0;
        self.body_bytes_sent = 0;
    }
}

/// Runs one pipelining user until the shard stops or the budget ends.
pub async fn run_user(shard: Rc<Shard>, depth: usize) {
    shard.users_running.set(shard.users_running.get() + 1);
    let plan = shard.plan.clone();
    let step = plan
        .classes
        .first()
        .and_then(|c| c.tasks.first())
        .and_then(|t| t.steps.first());
    if let Some(Step::Request(step)) = step {
        if let Some(request) = step.fixed.as_deref() {
            let mut capture = Capture::default();
            let mut rounds = 0u32;
            while !shard.stopping.get() {
                let mut copies = 0;
                while copies < depth && shard.take_permit() {
                    copies += 1;
                }
                if copies == 0 {
                    break;
                }
                let sent_at = Instant::now();
                let mut failed = false;
                let mut run = Run::default();
                let mut record = |outcome: Result<Exchange, Failure>, done_at: Instant| {
                    let answered = outcome.is_ok();
                    let (bytes, body_bytes, failure, first_byte_at) = match outcome {
                        Err(failure) => (0, 0, Some(failure), None),
                        Ok(exchange) => {
                            let failure = (exchange.status >= 400)
                                .then_some(Failure::Status(exchange.status));
                            (
                                exchange.bytes_received,
                                exchange.body_bytes,
                                failure,
                                Some(exchange.first_byte_at),
                            )
                        }
                    };
                    failed |= failure.is_some();
                    let key = (failure, first_byte_at, Some(done_at));
                    if run.count > 0 && run.key != key {
                        run.flush(&shard, step.endpoint, sent_at);
                    }
                    run.key = key;
                    run.count += 1;
                    run.bytes += bytes;
                    run.body_bytes += body_bytes;
                    if answered {
                        run.body_bytes_sent += step.fixed_body_bytes;
                    }
                };
                shard
                    .client
                    .pipeline(
                        step.origin,
                        request,
                        step.is_head,
                        copies,
                        &mut capture,
                        &mut record,
                    )
                    .await;
                run.flush(&shard, step.endpoint, sent_at);
                rounds += 1;
                // A failing target (refused connects) can fail without ever blocking.
                if failed || rounds.is_multiple_of(YIELD_EVERY) {
                    yield_now().await;
                }
            }
        }
    }
    shard.users_running.set(shard.users_running.get() - 1);
}
