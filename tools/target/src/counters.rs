//! The request, connection and status counters behind `/__stats`. Each shard
//! writes only its own cache-line-aligned slot, so shards never share a hot
//! line; readers sum the slots. The optional per-path counts (`paths`), the
//! TLS handshake counts and the service times of `--delay` (`service`) hang
//! off `Counters` too, so a reset clears them all. Deciding what counts is `conn`'s business; login counts belong to
//! `music`.

use std::sync::atomic::{AtomicU64, Ordering};

/// The lowest status code counted by `add_status`.
const STATUS_MIN: u16 = 100;

/// How many status codes a slot can count: 100 to 599.
const STATUS_CODES: usize = 500;

/// One shard's counters, aligned to its own pair of cache lines (adjacent-line
/// prefetch makes 128 bytes the safe distance on x86).
#[derive(Debug)]
#[repr(align(128))]
pub struct ShardSlot {
    /// Requests parsed on this shard, control routes excluded.
    requests: AtomicU64,
    /// Connections on this shard that carried at least one counted request.
    connections: AtomicU64,
    /// Request body bytes received with counted requests.
    body_bytes: AtomicU64,
    /// Responses by status code (index = code - 100), 2xx left out so that
    /// the successful hot path never touches this array.
    statuses: [AtomicU64; STATUS_CODES],
}

impl Default for ShardSlot {
    fn default() -> Self {
        ShardSlot {
            requests: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            body_bytes: AtomicU64::new(0),
            statuses: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl ShardSlot {
    /// Counts one request.
    #[inline]
    pub fn add_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `n` request body bytes received.
    #[inline]
    pub fn add_body_bytes(&self, n: u64) {
        self.body_bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one connection.
    #[inline]
    pub fn add_connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one response with this status, unless it is 2xx or not a real
    /// status (0 stands for "no response", e.g. `/reset`).
    #[inline]
    pub fn add_status(&self, code: u16) {
        if (200..300).contains(&code) {
            return;
        }
        if let Some(n) = status_index(code).and_then(|i| self.statuses.get(i)) {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn status_index(code: u16) -> Option<usize> {
    code.checked_sub(STATUS_MIN).map(usize::from)
}

/// The sums over all shards at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Requests served, control routes excluded.
    pub requests: u64,
    /// Connections that carried at least one counted request.
    pub connections: u64,
}

/// Every shard's slot.
#[derive(Debug)]
pub struct Counters {
    slots: Box<[ShardSlot]>,
    /// TLS handshakes by kind (rare next to requests, so not per shard).
    pub tls: crate::tls::TlsHandshakes,
    /// Requests by path, with `--count-paths` (off in `new`).
    pub paths: crate::paths::PathCounts,
    /// `/stall` requests and stalls, with the seed that decides them.
    pub stalls: crate::chaos::Stalls,
    /// Service times, with `--delay` (off in `new`).
    pub service: crate::service::ServiceTimes,
}

impl Counters {
    /// Zeroed counters for `shards` shards (at least one slot).
    pub fn new(shards: usize) -> Self {
        Counters {
            slots: (0..shards.max(1)).map(|_| ShardSlot::default()).collect(),
            tls: Default::default(),
            paths: Default::default(),
            stalls: Default::default(),
            service: Default::default(),
        }
    }

    /// The slot shard `index` writes; indexes wrap so a bad index cannot panic.
    pub fn slot(&self, index: usize) -> &ShardSlot {
        &self.slots[index % self.slots.len()]
    }

    /// Sums the slots.
    pub fn totals(&self) -> Totals {
        self.slots
            .iter()
            .fold(Totals::default(), |sum, slot| Totals {
                requests: sum.requests + slot.requests.load(Ordering::Relaxed),
                connections: sum.connections + slot.connections.load(Ordering::Relaxed),
            })
    }

    /// Request body bytes received with counted requests, summed over the shards.
    pub fn body_bytes(&self) -> u64 {
        self.slots
            .iter()
            .map(|slot| slot.body_bytes.load(Ordering::Relaxed))
            .sum()
    }

    /// Non-2xx responses with status `code`, summed over the shards.
    pub fn status_count(&self, code: u16) -> u64 {
        let Some(i) = status_index(code).filter(|i| *i < STATUS_CODES) else {
            return 0;
        };
        self.slots
            .iter()
            .map(|slot| slot.statuses[i].load(Ordering::Relaxed))
            .sum()
    }

    /// Every non-2xx status with a non-zero count, in code order.
    pub fn statuses(&self) -> Vec<(u16, u64)> {
        (0..STATUS_CODES as u16)
            .map(|i| STATUS_MIN + i)
            .map(|code| (code, self.status_count(code)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Zeroes every slot; increments racing with the reset may survive it.
    pub fn reset(&self) {
        self.tls.reset();
        self.paths.reset();
        self.stalls.reset();
        self.service.reset();
        for slot in self.slots.iter() {
            slot.requests.store(0, Ordering::Relaxed);
            slot.connections.store(0, Ordering::Relaxed);
            slot.body_bytes.store(0, Ordering::Relaxed);
            for n in slot.statuses.iter() {
                n.store(0, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The counters sum across shards and reset to zero; statuses skip 2xx.
    use super::*;

    #[test]
    fn slots_sum_and_reset() {
        let counters = Counters::new(3);
        counters.slot(0).add_request();
        counters.slot(2).add_request();
        counters.slot(2).add_connection();
        counters.slot(5).add_request();
        assert_eq!(
            counters.totals(),
            Totals {
                requests: 3,
                connections: 1
            }
        );
        counters.reset();
        assert_eq!(counters.totals(), Totals::default());
        assert_eq!(std::mem::align_of::<ShardSlot>(), 128);
    }

    #[test]
    fn statuses_count_everything_but_success() {
        let counters = Counters::new(2);
        for (shard, code) in [
            (0, 404),
            (1, 404),
            (1, 401),
            (0, 200),
            (0, 204),
            (1, 0),
            (0, 100),
            (1, 599),
            (0, 600),
            (0, 65535),
        ] {
            counters.slot(shard).add_status(code);
        }
        assert_eq!(
            counters.statuses(),
            [(100, 1), (401, 1), (404, 2), (599, 1)]
        );
        assert_eq!(
            (counters.status_count(404), counters.status_count(200)),
            (2, 0)
        );
        assert_eq!(
            (counters.status_count(0), counters.status_count(9999)),
            (0, 0)
        );
        counters.reset();
        assert!(counters.statuses().is_empty());
    }
}
