//! Requests by path (query left off), for the `"paths"` of `/__stats` when
//! the server runs with `--count-paths`, so a test can see each redirect hop
//! on the wire. Off by default: the count takes a lock shared by all shards,
//! which throughput benchmarks should not pay for. Bounded: `PATHS_MAX`
//! distinct paths, the rest counted together under `OTHER`. Deciding what
//! counts is `conn`'s business, rendering the JSON `stats`'.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// The most distinct paths counted one by one.
pub const PATHS_MAX: usize = 10_000;

/// The longest path counted by name; longer ones count under `OTHER`, so
/// the table holds at most `PATHS_MAX` times this many bytes of keys.
pub const PATH_BYTES_MAX: usize = 1024;

/// The name that paths over either limit are counted under.
pub const OTHER: &str = "__other__";

/// The per-path counts, or nothing when counting is off.
#[derive(Debug, Default)]
pub struct PathCounts {
    /// `--count-paths`: whether `add` counts at all.
    enabled: bool,
    /// The counts, behind one lock (only taken when `enabled`).
    table: Mutex<Table>,
}

/// What the lock guards.
#[derive(Debug, Default)]
struct Table {
    /// Requests by path, at most `PATHS_MAX` entries.
    by_path: HashMap<Box<[u8]>, u64>,
    /// Requests whose path did not fit: a new one past `PATHS_MAX`, or too long.
    other: u64,
}

/// A copy of the counts, sorted by path.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PathsSnapshot {
    /// Each counted path and its requests, in byte order of the paths.
    pub by_path: Vec<(Box<[u8]>, u64)>,
    /// The requests counted under `OTHER`.
    pub other: u64,
}

impl PathCounts {
    /// Counts that count only when `enabled`.
    pub fn new(enabled: bool) -> Self {
        PathCounts {
            enabled,
            table: Mutex::default(),
        }
    }

    /// Whether requests are counted (`--count-paths`).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Counts one request for `path`, when enabled.
    pub fn add(&self, path: &[u8]) {
        if !self.enabled {
            return;
        }
        let mut table = self.lock();
        let room = table.by_path.len() < PATHS_MAX && path.len() <= PATH_BYTES_MAX;
        if let Some(n) = table.by_path.get_mut(path) {
            *n += 1;
        } else if room {
            table.by_path.insert(path.into(), 1);
        } else {
            table.other += 1;
        }
    }

    /// Requests counted for `path` (`OTHER` reads the overflow count).
    pub fn count(&self, path: &str) -> u64 {
        let table = self.lock();
        match path {
            OTHER => table.other,
            _ => table.by_path.get(path.as_bytes()).copied().unwrap_or(0),
        }
    }

    /// The counts sorted by path; `None` when counting is off.
    pub fn snapshot(&self) -> Option<PathsSnapshot> {
        if !self.enabled {
            return None;
        }
        let table = self.lock();
        let mut by_path: Vec<_> = table
            .by_path
            .iter()
            .map(|(path, n)| (path.clone(), *n))
            .collect();
        by_path.sort_unstable();
        Some(PathsSnapshot {
            by_path,
            other: table.other,
        })
    }

    /// Forgets every count.
    pub fn reset(&self) {
        let mut table = self.lock();
        table.by_path.clear();
        table.other = 0;
    }

    /// The table; a lock poisoned by a panic elsewhere still holds valid counts.
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    //! Counting is off unless asked for, bounded in paths and path length,
    //! sorted when read, and cleared by a reset.
    use super::*;

    #[test]
    fn off_unless_enabled() {
        let paths = PathCounts::default();
        paths.add(b"/x");
        assert_eq!((paths.count("/x"), paths.snapshot()), (0, None));
    }

    #[test]
    fn counts_sort_and_reset() {
        let paths = PathCounts::new(true);
        for path in ["/redirect/2", "/redirect/1", "/redirect/2", "/"] {
            paths.add(path.as_bytes());
        }
        assert_eq!(paths.count("/redirect/2"), 2);
        let snapshot = paths.snapshot().unwrap();
        let names: Vec<_> = snapshot.by_path.iter().map(|(p, n)| (&p[..], *n)).collect();
        assert_eq!(
            names,
            [
                (&b"/"[..], 1),
                (&b"/redirect/1"[..], 1),
                (&b"/redirect/2"[..], 2)
            ]
        );
        assert_eq!(snapshot.other, 0);
        paths.reset();
        assert_eq!(paths.snapshot(), Some(PathsSnapshot::default()));
    }

    #[test]
    fn overflow_counts_under_other() {
        let paths = PathCounts::new(true);
        for i in 0..PATHS_MAX + 5 {
            paths.add(format!("/p/{i}").as_bytes());
        }
        paths.add(b"/p/0");
        paths.add(&vec![b'a'; PATH_BYTES_MAX + 1]);
        let snapshot = paths.snapshot().unwrap();
        assert_eq!(snapshot.by_path.len(), PATHS_MAX);
        assert_eq!((paths.count("/p/0"), paths.count(OTHER)), (2, 6));
        assert_eq!(paths.count(&format!("/p/{}", PATHS_MAX + 1)), 0);
    }
}
