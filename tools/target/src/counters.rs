//! The request and connection counters behind `/__stats`. Each shard writes
//! only its own cache-line-sized slot, so shards never share a hot line;
//! readers sum the slots. Deciding what counts is `conn`'s business.

use std::sync::atomic::{AtomicU64, Ordering};

/// One shard's counters, padded to its own pair of cache lines (adjacent-line
/// prefetch makes 128 bytes the safe distance on x86).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct ShardSlot {
    /// Requests parsed on this shard, control routes excluded.
    requests: AtomicU64,
    /// Connections on this shard that carried at least one counted request.
    connections: AtomicU64,
}

impl ShardSlot {
    /// Counts one request.
    #[inline]
    pub fn add_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one connection.
    #[inline]
    pub fn add_connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }
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
}

impl Counters {
    /// Zeroed counters for `shards` shards (at least one slot).
    pub fn new(shards: usize) -> Self {
        Counters {
            slots: (0..shards.max(1)).map(|_| ShardSlot::default()).collect(),
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

    /// Zeroes every slot; increments racing with the reset may survive it.
    pub fn reset(&self) {
        for slot in self.slots.iter() {
            slot.requests.store(0, Ordering::Relaxed);
            slot.connections.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The counters sum across shards and reset to zero.
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
}
