//! The workers table of a distributed run, for the console and the HTML
//! report. While the run goes on it shows each worker's state, users and
//! request rate now, and shard CPU; at the end, when every worker is done
//! and its users gone, it shows what each one did over the run: the most
//! users it ran at once, its average request rate and its average shard CPU. The coordinator fills
//! the rows; this module only lays them out.

use std::fmt::Write as _;

/// One worker as the coordinator last saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerRow {
    /// The worker's id in the run.
    pub id: u32,
    /// Its host name.
    pub host: String,
    /// Shards it runs.
    pub cores: u32,
    /// `running`, `done` or `lost`.
    pub state: &'static str,
    /// Users (or requests in flight) at its latest snapshot; 0 once done.
    pub users: u32,
    /// Requests per second over its last complete seconds; 0 once done.
    pub rps: f64,
    /// Most users (or requests in flight) it ran at once in any second.
    pub users_peak: u32,
    /// Its requests over the time it ran (from the start to its latest
    /// snapshot), per second.
    pub rps_mean: f64,
    /// Shard CPU over wall time at its latest second, averaged over its shards, in percent.
    pub cpu_percent: f64,
    /// Shard CPU over wall time across the whole run, all its shards, in percent.
    pub cpu_percent_mean: f64,
    /// Requests it completed so far.
    pub requests: u64,
}

/// Which figures a table shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figures {
    /// While running: users and req/s now.
    Now,
    /// At the end: peak users, average req/s and average CPU over the run.
    OverRun,
}

impl Figures {
    /// The users, req/s and CPU column headings.
    pub fn headings(self) -> [&'static str; 3] {
        match self {
            Figures::Now => ["users", "req/s", "CPU %"],
            Figures::OverRun => ["peak users", "avg req/s", "avg CPU %"],
        }
    }

    /// A row's users, req/s and CPU percent for these figures.
    pub fn values(self, row: &WorkerRow) -> (u32, f64, f64) {
        match self {
            Figures::Now => (row.users, row.rps, row.cpu_percent),
            Figures::OverRun => (row.users_peak, row.rps_mean, row.cpu_percent_mean),
        }
    }
}

/// The console table; empty when there are no workers.
pub fn console_table(rows: &[WorkerRow], figures: Figures) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let host_width = rows
        .iter()
        .map(|r| r.host.len())
        .max()
        .unwrap_or(4)
        .clamp(4, 30);
    let [users, rps, cpu] = figures.headings();
    let mut out = format!(
        "Workers\n{:>6}  {:<host_width$}  {:>5}  {:<7}  {:>10}  {:>10}  {:>9}  {:>12}\n",
        "worker", "host", "cores", "state", users, rps, cpu, "requests"
    );
    for r in rows {
        let host: String = r.host.chars().take(host_width).collect();
        let (users, rps, cpu_percent) = figures.values(r);
        let _ = writeln!(
            out,
            "{:>6}  {host:<host_width$}  {:>5}  {:<7}  {:>10}  {:>10.1}  {:>9.1}  {:>12}",
            r.id, r.cores, r.state, users, rps, cpu_percent, r.requests
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<WorkerRow> {
        vec![
            WorkerRow {
                id: 1,
                host: "w-a".into(),
                cores: 2,
                state: "running",
                users: 25,
                rps: 1234.56,
                users_peak: 30,
                rps_mean: 1100.04,
                cpu_percent: 87.5,
                cpu_percent_mean: 61.25,
                requests: 9000,
            },
            WorkerRow {
                id: 2,
                host: "w-b".into(),
                cores: 1,
                state: "lost",
                users: 0,
                rps: 0.0,
                users_peak: 5,
                rps_mean: 2.5,
                cpu_percent: 0.0,
                cpu_percent_mean: 3.0,
                requests: 10,
            },
        ]
    }

    /// Each worker is a row with its numbers; no workers, no table.
    #[test]
    fn table_lists_each_worker() {
        let table = console_table(&rows(), Figures::Now);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[1].contains("     users       req/s"), "{table}");
        assert!(
            lines[2].contains("w-a")
                && lines[2].contains("running")
                && lines[2].contains(" 25 ")
                && lines[2].contains("1234.6")
                && lines[2].contains("87.5")
        );
        assert!(lines[3].contains("lost"));
        assert_eq!(console_table(&[], Figures::Now), "");
    }

    /// At the end the table shows what each worker did over the run: its
    /// peak users and average rate, under headings that say so.
    #[test]
    fn final_table_shows_peak_users_and_average_rate() {
        let table = console_table(&rows(), Figures::OverRun);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[1].contains("peak users   avg req/s  avg CPU %"),
            "{table}"
        );
        assert!(
            lines[2].contains(" 30 ") && lines[2].contains("1100.0") && lines[2].contains("61.2"),
            "{table}"
        );
        assert!(
            lines[3].contains(" 5 ") && lines[3].contains("2.5"),
            "{table}"
        );
    }
}
