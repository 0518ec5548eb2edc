//! Pure pacing: when arrivals are due and how many users should be running.
//!
//! No clocks and no I/O here; the shard and the control actor apply these
//! functions to the time they read. Tested by tables.

use std::time::Duration;

/// Offset from the run's start of global arrival `j` at `rate_per_s`: `j / rate`.
pub fn arrival_offset(j: u64, rate_per_s: f64) -> Duration {
    Duration::from_secs_f64(j as f64 / rate_per_s)
}

/// The global index of a shard's `i`-th arrival when `shards` shards share one
/// schedule: shard `k` takes arrivals `k, k + shards, k + 2*shards, ...`, so the
/// union is exactly the schedule `t0 + j / rate`.
pub fn global_arrival(i: u64, shard: usize, shards: usize) -> u64 {
    i * shards as u64 + shard as u64
}

/// Users that should be running `elapsed` after the start, ramping up to
/// `users` at `spawn_rate_per_s` (first user at once, as Locust does);
/// `None` starts all of them at once.
pub fn users_due(elapsed: Duration, spawn_rate_per_s: Option<f64>, users: u32) -> u32 {
    match spawn_rate_per_s {
        None => users,
        Some(rate) => {
            let due = (elapsed.as_secs_f64() * rate).floor() + 1.0;
            if due >= f64::from(users) {
                users
            } else {
                due as u32
            }
        }
    }
}

/// Shard `index`'s share of `total` split over `shards` as evenly as possible.
pub fn share(total: u64, shards: usize, index: usize) -> u64 {
    let shards = shards as u64;
    total / shards + u64::from((index as u64) < total % shards)
}

/// Splits `total` in proportion to `weights` by largest remainder: the
/// parts add up to `total` exactly and a zero weight gets nothing.
pub fn share_weighted(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<(u64, u128)> = weights
        .iter()
        .map(|&w| {
            let scaled = u128::from(total) * u128::from(w);
            ((scaled / sum) as u64, scaled % sum)
        })
        .collect();
    let mut parts: Vec<u64> = exact.iter().map(|&(q, _)| q).collect();
    let mut order: Vec<usize> = (0..weights.len()).filter(|&i| weights[i] > 0).collect();
    order.sort_by(|&a, &b| exact[b].1.cmp(&exact[a].1).then(a.cmp(&b)));
    let mut left = total - parts.iter().sum::<u64>();
    for i in order.into_iter().cycle() {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Arrivals are spaced 1/rate apart from the start.
    #[test]
    fn arrival_offsets() {
        let cases: &[(u64, f64, u64)] = &[
            (0, 100.0, 0),
            (1, 100.0, 10_000_000),
            (150, 100.0, 1_500_000_000),
            (3, 0.5, 6_000_000_000),
        ];
        for &(j, rate, nanos) in cases {
            assert_eq!(
                arrival_offset(j, rate),
                Duration::from_nanos(nanos),
                "j={j} rate={rate}"
            );
        }
    }

    /// Shards interleave so together they cover every global arrival once.
    #[test]
    fn shards_cover_the_schedule_once() {
        let mut seen: Vec<u64> = (0..3)
            .flat_map(|k| (0..10).map(move |i| global_arrival(i, k, 3)))
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..30).collect::<Vec<_>>());
    }

    /// Ramps start one user at once and reach the total, never beyond it.
    #[test]
    fn users_due_table() {
        let ms = Duration::from_millis;
        let cases: &[(Duration, Option<f64>, u32, u32)] = &[
            (ms(0), None, 50, 50),
            (ms(0), Some(10.0), 50, 1),
            (ms(99), Some(10.0), 50, 1),
            (ms(100), Some(10.0), 50, 2),
            (ms(4_950), Some(10.0), 50, 50),
            (ms(60_000), Some(10.0), 50, 50),
            (ms(500), Some(1000.0), 20, 20),
            (ms(0), Some(0.001), 3, 1),
        ];
        for &(elapsed, rate, users, due) in cases {
            assert_eq!(
                users_due(elapsed, rate, users),
                due,
                "{elapsed:?} {rate:?} {users}"
            );
        }
    }

    /// Weighted shares add up exactly, follow the weights, and skip zero weights.
    #[test]
    fn weighted_shares() {
        let cases: &[(u64, &[u64], &[u64])] = &[
            (5, &[1, 0], &[5, 0]),
            (10, &[1, 1], &[5, 5]),
            (7, &[2, 1], &[5, 2]),
            (3, &[0, 0], &[0, 0]),
            (0, &[3, 1], &[0, 0]),
            (100, &[1, 1, 1], &[34, 33, 33]),
        ];
        for (total, weights, expected) in cases {
            assert_eq!(
                share_weighted(*total, weights),
                *expected,
                "{total} by {weights:?}"
            );
        }
    }

    /// Shares add up to the total and differ by at most one.
    #[test]
    fn shares_are_even() {
        for (total, shards) in [(5000u64, 2usize), (7, 3), (1, 4), (0, 2)] {
            let parts: Vec<u64> = (0..shards).map(|i| share(total, shards, i)).collect();
            assert_eq!(parts.iter().sum::<u64>(), total);
            assert!(parts.iter().max().unwrap() - parts.iter().min().unwrap() <= 1);
        }
    }
}
