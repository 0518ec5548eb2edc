//! A shard's accounting around dialing: the bound on connects in flight
//! (`--max-connecting`), and the interval's connect and TLS handshake times
//! and per-address request and byte counts that go into its snapshot.
//!
//! Dialing itself is `stream`'s job and choosing the address `dns`'s; this
//! module only waits for a slot and counts. Recording allocates nothing once
//! every address has been seen.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hdrhistogram::Histogram;
use stampede_proto::{AddressCount, HistogramBuckets, ProtoError};

use crate::stats::new_latency_histogram;

/// Default connects in flight per shard: enough for a fast ramp, few enough
/// that a 5000 users/s ramp does not flood the target's accept queue.
pub const DEFAULT_MAX_CONNECTING: u32 = 256;

/// A shard-local counting semaphore for connects in flight.
pub struct ConnectSlots {
    /// Most connects in flight at once.
    max: usize,
    /// Connects in flight now.
    used: Cell<usize>,
    /// Tasks waiting for a slot, woken in order.
    waiting: RefCell<VecDeque<Waker>>,
    /// Most connects seen in flight at once, for tests and reports.
    peak: Cell<usize>,
}

impl ConnectSlots {
    /// Slots for at most `max` connects in flight (at least 1).
    pub fn new(max: usize) -> Self {
        ConnectSlots {
            max: max.max(1),
            used: Cell::new(0),
            waiting: RefCell::new(VecDeque::new()),
            peak: Cell::new(0),
        }
    }

    /// Waits for a free slot; the slot is given back when the guard drops.
    pub fn acquire(&self) -> impl Future<Output = SlotGuard<'_>> + '_ {
        Acquire { slots: self }
    }

    /// Most connects that were in flight at once.
    pub fn peak(&self) -> usize {
        self.peak.get()
    }
}

/// The future of [`ConnectSlots::acquire`].
struct Acquire<'a> {
    slots: &'a ConnectSlots,
}

impl<'a> Future for Acquire<'a> {
    type Output = SlotGuard<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SlotGuard<'a>> {
        let slots = self.slots;
        let used = slots.used.get();
        if used < slots.max {
            slots.used.set(used + 1);
            slots.peak.set(slots.peak.get().max(used + 1));
            return Poll::Ready(SlotGuard { slots });
        }
        // Re-queued on every poll; a stale waker only causes a spare poll.
        slots.waiting.borrow_mut().push_back(cx.waker().clone());
        Poll::Pending
    }
}

/// A connect slot; dropping it frees the slot and wakes the next waiter.
pub struct SlotGuard<'a> {
    slots: &'a ConnectSlots,
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        self.slots.used.set(self.slots.used.get() - 1);
        if let Some(waker) = self.slots.waiting.borrow_mut().pop_front() {
            waker.wake();
        }
    }
}

/// How long one new connection took to set up.
#[derive(Debug, Clone, Copy)]
pub struct DialTiming {
    /// The address it connected to.
    pub addr: SocketAddr,
    /// TCP connect time.
    pub connect: Duration,
    /// TLS handshake time; `None` for plain HTTP.
    pub tls: Option<Duration>,
}

/// What was written to one address in the interval.
#[derive(Debug, Clone, Copy, Default)]
struct Written {
    /// Requests written.
    requests: u64,
    /// Their bytes (heads and bodies).
    bytes: u64,
}

/// One shard's dial stats for the current interval.
pub struct DialStats {
    /// TCP connect times, microseconds.
    connect_us: Histogram<u64>,
    /// TLS handshake times, microseconds.
    tls_us: Histogram<u64>,
    /// Requests and request bytes written per target address; a handful of
    /// entries, so a vector.
    requests: Vec<(SocketAddr, Written)>,
}

impl Default for DialStats {
    fn default() -> Self {
        DialStats {
            connect_us: new_latency_histogram(),
            tls_us: new_latency_histogram(),
            requests: Vec::new(),
        }
    }
}

impl DialStats {
    /// Records a new connection's setup times.
    pub fn record_dial(&mut self, timing: DialTiming) {
        self.connect_us.saturating_record(micros(timing.connect));
        if let Some(tls) = timing.tls {
            self.tls_us.saturating_record(micros(tls));
        }
    }

    /// Counts `count` requests written to `addr`, `bytes` bytes in all.
    /// Allocates only the first time an address is seen.
    #[inline]
    pub fn record_requests(&mut self, addr: SocketAddr, count: u64, bytes: u64) {
        let written = match self.requests.iter_mut().find(|(a, _)| *a == addr) {
            Some((_, written)) => written,
            None => {
                self.requests.push((addr, Written::default()));
                &mut self.requests.last_mut().expect("just pushed").1
            }
        };
        written.requests += count;
        written.bytes += bytes;
    }

    /// The interval's connect and TLS histograms and per-address counts
    /// (requests and bytes); resets them.
    pub fn take(
        &mut self,
    ) -> Result<(HistogramBuckets, HistogramBuckets, Vec<AddressCount>), ProtoError> {
        let connect = HistogramBuckets::encode(&self.connect_us)?;
        let tls = HistogramBuckets::encode(&self.tls_us)?;
        self.connect_us.reset();
        self.tls_us.reset();
        let addresses = self
            .requests
            .iter_mut()
            .filter(|(_, w)| w.requests > 0 || w.bytes > 0)
            .map(|(addr, w)| {
                let w = std::mem::take(w);
                AddressCount {
                    addr: addr.to_string(),
                    requests: w.requests,
                    bytes_sent: w.bytes,
                }
            })
            .collect();
        Ok((connect, tls, addresses))
    }
}

/// Whole microseconds, at least 1 (the histogram's lowest value).
fn micros(duration: Duration) -> u64 {
    (duration.as_micros() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    /// No more than `max` holders at once; a freed slot lets the next waiter in.
    #[test]
    fn slots_bound_connects_in_flight() {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        rt.block_on(async {
            let slots = Rc::new(ConnectSlots::new(3));
            let done = Rc::new(Cell::new(0));
            let tasks: Vec<_> = (0..20)
                .map(|i| {
                    let (slots, done) = (slots.clone(), done.clone());
                    monoio::spawn(async move {
                        let _slot = slots.acquire().await;
                        monoio::time::sleep(Duration::from_millis(1 + i % 3)).await;
                        done.set(done.get() + 1);
                    })
                })
                .collect();
            for task in tasks {
                task.await;
            }
            assert_eq!(done.get(), 20);
            assert_eq!(slots.peak(), 3);
            assert_eq!(slots.used.get(), 0);
        });
    }

    /// Dial times and per-address counts land in the interval's values, then reset.
    #[test]
    fn dial_stats_take_and_reset() {
        let mut stats = DialStats::default();
        let a: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let b: SocketAddr = "127.0.0.2:80".parse().unwrap();
        let ms = Duration::from_millis;
        stats.record_dial(DialTiming {
            addr: a,
            connect: ms(1),
            tls: None,
        });
        stats.record_dial(DialTiming {
            addr: b,
            connect: ms(2),
            tls: Some(ms(5)),
        });
        stats.record_requests(a, 3, 3 * 40);
        stats.record_requests(b, 1, 40);
        // A retry resends on another connection to the same address: counted again.
        stats.record_requests(a, 1, 40);
        let (connect, tls, addresses) = stats.take().unwrap();
        assert_eq!(connect.decode().unwrap().unwrap().len(), 2);
        assert_eq!(tls.decode().unwrap().unwrap().len(), 1);
        let counts: Vec<_> = addresses
            .iter()
            .map(|c| (c.addr.as_str(), c.requests, c.bytes_sent))
            .collect();
        assert_eq!(counts, [("127.0.0.1:80", 4, 160), ("127.0.0.2:80", 1, 40)]);
        let (connect, _, addresses) = stats.take().unwrap();
        assert!(connect.decode().unwrap().is_none());
        assert!(addresses.is_empty());
        // An address seen before keeps its entry: counting again allocates nothing
        // and starts from zero.
        stats.record_requests(b, 2, 90);
        assert_eq!(stats.requests.len(), 2);
        let (_, _, addresses) = stats.take().unwrap();
        let counts: Vec<_> = addresses
            .iter()
            .map(|c| (c.addr.as_str(), c.requests, c.bytes_sent))
            .collect();
        assert_eq!(counts, [("127.0.0.2:80", 2, 90)]);
    }
}
