//! `--pipeline N`: a closed-loop user of a single-URL run that keeps up to N
//! requests in flight on its connection (HTTP/1.1 pipelining, as wrk does
//! with a Lua script).
//!
//! Each round takes up to N permits (so `--iterations` stays exact), writes
//! that many copies of the pre-encoded request in one write, and records
//! every response as it completes, in order, with its latency from the
//! round's send. Matching, retrying the unanswered rest after a server
//! close, and counting what is lost as failures are the client's job
//! (`Client::pipeline`); configuration refuses pipelining with scenarios.

use std::rc::Rc;
use std::time::Instant;

use crate::http::{Capture, Failure};
use crate::scenario::Step;
use crate::shard::{yield_now, Shard};

/// Rounds a user runs back to back before letting other tasks run.
const YIELD_EVERY: u32 = 4;

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
                let mut record = |outcome: Result<crate::http::Exchange, Failure>,
                                  done_at: Instant| {
                    let service = done_at.saturating_duration_since(sent_at);
                    let (bytes, failure, ttfb) = match outcome {
                        Err(failure) => (0, Some(failure), None),
                        Ok(exchange) => {
                            let failure = (exchange.status >= 400)
                                .then_some(Failure::Status(exchange.status));
                            let ttfb = exchange.first_byte_at.saturating_duration_since(sent_at);
                            (exchange.bytes_received, failure, Some(ttfb))
                        }
                    };
                    failed |= failure.is_some();
                    shard.recorder.borrow_mut().record(
                        step.endpoint,
                        bytes,
                        failure,
                        service,
                        service,
                        ttfb,
                    );
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
                rounds += 1;
                // A failing target (refused connects) can fail without ever blocking.
                if failed || rounds % YIELD_EVERY == 0 {
                    yield_now().await;
                }
            }
        }
    }
    shard.users_running.set(shard.users_running.get() - 1);
}
