//! Open loop: a shard's slice of the global arrival schedule `t0 + j / rate`.
//!
//! A scheduler task sleeps until each intended send time and hands the
//! arrival to an idle worker; workers are spawned on demand up to the shard's
//! in-flight cap, and an arrival that finds every worker busy is counted as
//! dropped, never delayed. Latency is recorded from the intended time
//! (coordinated-omission corrected) and service time from the actual send.
//! When the arrivals are due comes from `pace`; how to send, from the client.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use crate::run::pace;
use crate::shard::user::{self, StepEnv, VirtualUser};
use crate::shard::{runtime, yield_now, Shard};

/// What one shard needs to know of the global schedule.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Global arrivals per second.
    pub rate_per_s: f64,
    /// Global arrival count at which the schedule ends.
    pub total: Option<u64>,
    /// Offset from the start at which the schedule ends (the run time), so a
    /// run of T seconds at R/s issues exactly ceil(T * R) arrivals.
    pub end: Option<Duration>,
    /// Shards sharing the schedule.
    pub shards: usize,
    /// This shard's most concurrent requests.
    pub max_in_flight: u32,
}

/// Arrivals dispatched back to back (the shard is behind) before yielding.
const DISPATCH_BURST: u32 = 16;
/// Longest sleep before the scheduler looks at its anchor again, so a rate
/// change (`SetRate`) takes effect within this.
const ANCHOR_POLL: Duration = Duration::from_millis(10);

/// A worker's mailbox: the intended send time of its next arrival.
#[derive(Default)]
struct Slot {
    /// The arrival handed over and not yet taken.
    job: Cell<Option<Instant>>,
    /// Set when the schedule is over; the worker exits.
    closed: Cell<bool>,
    /// The worker's waker while it waits.
    waker: Cell<Option<Waker>>,
}

impl Slot {
    fn deliver(&self, intended: Instant) {
        self.job.set(Some(intended));
        self.wake();
    }

    fn close(&self) {
        self.closed.set(true);
        self.wake();
    }

    fn wake(&self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    /// The next arrival, or `None` once closed.
    async fn next(&self) -> Option<Instant> {
        poll_fn(|cx| {
            if let Some(intended) = self.job.take() {
                Poll::Ready(Some(intended))
            } else if self.closed.get() {
                Poll::Ready(None)
            } else {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }
}

/// Idle workers' slots, most recently idle last (its connection is warmest).
type IdleSlots = Rc<RefCell<Vec<Rc<Slot>>>>;

/// Runs the shard's share of the schedule until it ends or the shard stops.
pub async fn run(shard: Rc<Shard>, schedule: Schedule) {
    let idle: IdleSlots = Rc::default();
    let mut workers = 0u32;
    let mut burst = 0u32;
    let mut i = 0u64;
    while !shard.stopping.get() {
        let j = pace::global_arrival(i, shard.index, schedule.shards);
        if schedule.total.is_some_and(|total| j >= total) {
            break;
        }
        // The rate may change while running (stages, console keys): the
        // shard's anchor says when arrival j is due; none while paused.
        let Some(offset) = shard.rate_anchor.get().offset(j) else {
            runtime::sleep(ANCHOR_POLL).await;
            continue;
        };
        if schedule.end.is_some_and(|end| offset >= end) {
            break;
        }
        let intended = shard.t0 + offset;
        let now = Instant::now();
        if intended > now {
            burst = 0;
            let wake = intended.min(now + ANCHOR_POLL);
            runtime::sleep_until(wake).await;
            if shard.stopping.get() {
                break;
            }
            if wake < intended {
                continue;
            }
        } else {
            burst += 1;
            if burst >= DISPATCH_BURST {
                burst = 0;
                yield_now().await;
            }
        }
        i += 1;
        shard
            .recorder
            .borrow_mut()
            .record_lag(Instant::now().saturating_duration_since(intended));
        let slot = idle.borrow_mut().pop();
        if let Some(slot) = slot {
            shard.in_flight.set(shard.in_flight.get() + 1);
            slot.deliver(intended);
        } else if workers < schedule.max_in_flight {
            workers += 1;
            shard.in_flight.set(shard.in_flight.get() + 1);
            let slot = Rc::new(Slot::default());
            slot.job.set(Some(intended));
            runtime::spawn(worker(
                shard.clone(),
                slot,
                idle.clone(),
                u64::from(workers - 1),
            ));
        } else {
            shard.recorder.borrow_mut().record_dropped(1);
        }
    }
    shard.arrivals_done.set(true);
    for slot in idle.borrow_mut().drain(..) {
        slot.close();
    }
}

/// Runs one scenario iteration per arrival handed to its slot. A worker is
/// a virtual user (like a k6 VU of an arrival-rate executor): it runs
/// `on_start` before its first iteration and keeps its variables between them.
async fn worker(shard: Rc<Shard>, slot: Rc<Slot>, idle: IdleSlots, number: u64) {
    let plan = shard.plan.clone();
    let mut user = VirtualUser::on_shard(&shard, number);
    let class = &plan.classes[user.class];
    let env = StepEnv::of(&shard);
    let per_iteration = user::picks_per_iteration(&plan, user.class);
    let mut started = false;
    while let Some(intended) = slot.next().await {
        let mut usable = true;
        if !started {
            started = true;
            usable = per_iteration || user::feed(&shard, &mut user);
            if usable {
                user.run_steps(&class.on_start, &env, None).await;
            }
        }
        if usable && per_iteration {
            usable = user::feed(&shard, &mut user);
        }
        let failure = if usable {
            let task = user.pick_task();
            let failure = user
                .run_steps(&class.tasks[task].steps, &env, Some(intended))
                .await;
            user.iteration += 1;
            failure
        } else {
            shard.recorder.borrow_mut().record_dropped(1);
            None
        };
        shard.in_flight.set(shard.in_flight.get() - 1);
        if shard.arrivals_done.get() {
            break;
        }
        if failure.is_some() {
            yield_now().await;
        }
        idle.borrow_mut().push(slot.clone());
    }
    if started {
        user.run_steps(&class.on_stop, &env, None).await;
    }
}
