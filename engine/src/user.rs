//! A virtual user in closed loop: send the plan's next request, wait for the
//! whole response, record it, repeat until the shard stops or the budget ends.
//!
//! A user holds no connection of its own between requests; it takes one from
//! the shard's pool for each request and gives it back, so with no wait time
//! each user keeps one warm keep-alive connection.

use std::rc::Rc;
use std::time::Instant;

use crate::shard::{yield_now, Shard};

/// Requests a user sends before letting its shard's other tasks run; a fast
/// target can answer without the runtime ever parking.
const YIELD_EVERY: u32 = 16;

/// Runs one user until its shard stops it.
pub async fn run(shard: Rc<Shard>, _user_id: u64) {
    shard.users_running.set(shard.users_running.get() + 1);
    let plan = shard.plan.clone();
    let mut step = 0;
    let mut since_yield = 0;
    while !shard.stopping.get() && shard.take_permit() {
        let request = &plan.requests[step];
        step = (step + 1) % plan.requests.len();
        let sent_at = Instant::now();
        let outcome = shard.client.send(request.origin, &request.bytes, request.is_head).await;
        let latency = sent_at.elapsed();
        shard.recorder.borrow_mut().record(request.endpoint, &outcome, latency, latency);
        since_yield += 1;
        // A failing target (refused connects) can fail without ever blocking.
        if outcome.is_err() || since_yield >= YIELD_EVERY {
            since_yield = 0;
            yield_now().await;
        }
    }
    shard.users_running.set(shard.users_running.get() - 1);
}
