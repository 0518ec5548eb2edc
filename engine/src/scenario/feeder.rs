//! Feeders: rows of test data from CSV files, handed to users.
//!
//! `unique` gives every row to exactly one user in the whole run: rows are
//! partitioned across shards (shard k owns rows k, k + shards, ...), so no
//! shard ever asks another. `cycle` walks all rows round and round (each
//! shard from its own offset); `random` picks any row.

use std::path::Path;

/// How rows are handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Each row to exactly one user in the run.
    Unique,
    /// Round and round.
    Cycle,
    /// Any row, at random.
    Random,
}

/// When a user takes a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// Once, before `on_start`.
    OnStart,
    /// Before every iteration.
    PerIteration,
}

/// What a user does when a `unique` feeder has no rows left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    /// Run on without a row (its columns stay unset).
    Continue,
    /// Stop this user.
    Stop,
}

/// A loaded feeder.
#[derive(Debug, Clone)]
pub struct Feeder {
    /// Name in the scenario.
    pub name: String,
    /// Column names, from the header row.
    pub columns: Vec<String>,
    /// Variable slot of each column.
    pub slots: Vec<usize>,
    /// The data rows.
    pub rows: Vec<Vec<String>>,
    /// How rows are handed out.
    pub mode: Mode,
    /// When users take rows.
    pub pick: Pick,
    /// What happens when unique rows run out.
    pub exhausted: Exhausted,
}

/// Reads a CSV file with a header row; every row must have every column.
pub fn load_csv(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| format!("cannot read feeder file {}: {e}", path.display()))?;
    let columns: Vec<String> = reader
        .headers()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .iter()
        .map(str::to_string)
        .collect();
    if columns.is_empty() || columns.iter().any(String::is_empty) {
        return Err(format!(
            "{}: the header row must name every column",
            path.display()
        ));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("{}: {e}", path.display()))?;
        rows.push(record.iter().map(str::to_string).collect());
    }
    if rows.is_empty() {
        return Err(format!("{}: no data rows", path.display()));
    }
    Ok((columns, rows))
}

/// One shard's position in one feeder.
#[derive(Debug, Clone, Default)]
pub struct Cursor {
    /// Rows this shard has taken so far.
    taken: usize,
}

impl Cursor {
    /// The next row for a user on shard `shard` of `shards`, or `None` when a
    /// unique feeder's share is used up.
    pub fn next_row(
        &mut self,
        feeder: &Feeder,
        shard: usize,
        shards: usize,
        rng: &mut fastrand::Rng,
    ) -> Option<usize> {
        let len = feeder.rows.len();
        let row = match feeder.mode {
            Mode::Unique => Some(shard + self.taken * shards).filter(|&row| row < len),
            // No rows (refused when compiled; kept safe here): no row, never `% 0`.
            Mode::Cycle | Mode::Random if len == 0 => None,
            Mode::Cycle => Some((shard + self.taken) % len),
            Mode::Random => Some(rng.usize(..len)),
        };
        if row.is_some() {
            self.taken += 1;
        }
        row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feeder(mode: Mode, rows: usize) -> Feeder {
        Feeder {
            name: "f".into(),
            columns: vec!["a".into()],
            slots: vec![0],
            rows: (0..rows).map(|i| vec![i.to_string()]).collect(),
            mode,
            pick: Pick::OnStart,
            exhausted: Exhausted::Continue,
        }
    }

    /// Unique rows go to exactly one taker across all shards, then run out.
    #[test]
    fn unique_rows_are_used_once_cluster_wide() {
        let f = feeder(Mode::Unique, 5);
        let mut rng = fastrand::Rng::with_seed(1);
        let mut seen = Vec::new();
        for shard in 0..2 {
            let mut cursor = Cursor::default();
            while let Some(row) = cursor.next_row(&f, shard, 2, &mut rng) {
                seen.push(row);
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, vec![0, 1, 2, 3, 4]);
    }

    /// Cycle wraps around; random stays in range.
    #[test]
    fn cycle_and_random() {
        let mut rng = fastrand::Rng::with_seed(1);
        let f = feeder(Mode::Cycle, 3);
        let mut cursor = Cursor::default();
        let rows: Vec<_> = (0..5)
            .map(|_| cursor.next_row(&f, 1, 2, &mut rng).unwrap())
            .collect();
        assert_eq!(rows, vec![1, 2, 0, 1, 2]);
        let f = feeder(Mode::Random, 3);
        assert!((0..100).all(|_| cursor.next_row(&f, 0, 2, &mut rng).unwrap() < 3));
    }

    /// An empty cycle or random feeder gives no row instead of dividing by zero.
    #[test]
    fn empty_feeders_give_no_row() {
        let mut rng = fastrand::Rng::with_seed(1);
        for mode in [Mode::Unique, Mode::Cycle, Mode::Random] {
            let mut cursor = Cursor::default();
            assert_eq!(cursor.next_row(&feeder(mode, 0), 0, 2, &mut rng), None);
        }
    }

    /// A CSV needs a header and rows; a missing file is a clear error.
    #[test]
    fn csv_loading() {
        let dir = std::env::temp_dir();
        let path = dir.join(format!("stampede-feeder-{}.csv", std::process::id()));
        std::fs::write(&path, "username,password\nalice, a-pw\nbob,b-pw\n").unwrap();
        let (columns, rows) = load_csv(&path).unwrap();
        assert_eq!(columns, vec!["username", "password"]);
        assert_eq!(rows[0], vec!["alice", "a-pw"]);
        std::fs::write(&path, "username\n").unwrap();
        assert!(load_csv(&path).unwrap_err().contains("no data rows"));
        std::fs::remove_file(&path).unwrap();
        assert!(load_csv(&path)
            .unwrap_err()
            .contains("cannot read feeder file"));
    }
}
