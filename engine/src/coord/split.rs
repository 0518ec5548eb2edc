//! Pure arithmetic of a distributed run: each worker's share of users, rate
//! and iterations (in proportion to its cores, summing exactly), and each
//! worker's rows of a unique feeder (every row to exactly one worker).

/// Splits `total` over workers in proportion to `cores`, by largest
/// remainder, so the shares add up to `total` exactly.
pub fn by_cores(total: u64, cores: &[u32]) -> Vec<u64> {
    let sum: u64 = cores.iter().map(|&c| u64::from(c.max(1))).sum();
    if sum == 0 {
        return Vec::new();
    }
    let exact: Vec<(u64, u64)> = cores
        .iter()
        .map(|&c| {
            let scaled = u128::from(total) * u128::from(c.max(1));
            (
                (scaled / u128::from(sum)) as u64,
                (scaled % u128::from(sum)) as u64,
            )
        })
        .collect();
    let mut shares: Vec<u64> = exact.iter().map(|&(q, _)| q).collect();
    let mut left = total - shares.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..cores.len()).collect();
    order.sort_by(|&a, &b| exact[b].1.cmp(&exact[a].1).then(a.cmp(&b)));
    for i in order {
        if left == 0 {
            break;
        }
        shares[i] += 1;
        left -= 1;
    }
    shares
}

/// Splits a rate in proportion to `cores`.
pub fn rate_by_cores(rate_per_s: f64, cores: &[u32]) -> Vec<f64> {
    let sum: f64 = cores.iter().map(|&c| f64::from(c.max(1))).sum();
    cores
        .iter()
        .map(|&c| rate_per_s * f64::from(c.max(1)) / sum)
        .collect()
}

/// The first user number of each worker: the users of the workers before it.
pub fn user_bases(users: &[u64]) -> Vec<u64> {
    users
        .iter()
        .scan(0u64, |base, &n| {
            let this = *base;
            *base += n;
            Some(this)
        })
        .collect()
}

/// Worker `index`'s rows of a unique feeder: rows index, index + workers, ...
pub fn unique_rows<T: Clone>(rows: &[T], workers: usize, index: usize) -> Vec<T> {
    rows.iter()
        .skip(index)
        .step_by(workers.max(1))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shares follow the cores, add up exactly, and never lose a unit.
    #[test]
    fn shares_by_cores() {
        let cases: &[(u64, &[u32], &[u64])] = &[
            (50, &[2, 2], &[25, 25]),
            (51, &[2, 2], &[26, 25]),
            (10, &[1, 2, 1], &[3, 5, 2]),
            (0, &[4, 4], &[0, 0]),
            (3, &[8, 1, 1], &[3, 0, 0]),
            (100, &[3, 3, 3], &[34, 33, 33]),
        ];
        for (total, cores, expected) in cases {
            let shares = by_cores(*total, cores);
            assert_eq!(shares, *expected, "{total} over {cores:?}");
            assert_eq!(shares.iter().sum::<u64>(), *total);
        }
        let rates = rate_by_cores(300.0, &[1, 2]);
        assert_eq!(rates, vec![100.0, 200.0]);
        assert_eq!(user_bases(&[25, 25, 10]), vec![0, 25, 50]);
    }

    /// Unique rows go to exactly one worker.
    #[test]
    fn unique_rows_partition() {
        let rows: Vec<u32> = (0..7).collect();
        let mut all: Vec<u32> = (0..3).flat_map(|w| unique_rows(&rows, 3, w)).collect();
        all.sort_unstable();
        assert_eq!(all, rows);
        assert_eq!(unique_rows(&rows, 3, 1), vec![1, 4]);
    }
}
