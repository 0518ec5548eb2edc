//! The workers table of a distributed run: each worker's state, users,
//! current request rate and shard CPU, for the console and the HTML report.
//! The coordinator fills the rows; this module only lays them out.

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
    /// Users (or requests in flight) at its latest snapshot.
    pub users: u32,
    /// Requests per second over its last complete seconds.
    pub rps: f64,
    /// Shard CPU over wall time at its latest second, averaged over its shards, in percent.
    pub cpu_percent: f64,
    /// Requests it completed so far.
    pub requests: u64,
}

/// The console table; empty when there are no workers.
pub fn console_table(rows: &[WorkerRow]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let host_width = rows
        .iter()
        .map(|r| r.host.len())
        .max()
        .unwrap_or(4)
        .clamp(4, 30);
    let mut out = format!(
        "Workers\n{:>6}  {:<host_width$}  {:>5}  {:<7}  {:>7}  {:>10}  {:>6}  {:>12}\n",
        "worker", "host", "cores", "state", "users", "req/s", "CPU %", "requests"
    );
    for r in rows {
        let host: String = r.host.chars().take(host_width).collect();
        let _ = writeln!(
            out,
            "{:>6}  {host:<host_width$}  {:>5}  {:<7}  {:>7}  {:>10.1}  {:>6.1}  {:>12}",
            r.id, r.cores, r.state, r.users, r.rps, r.cpu_percent, r.requests
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each worker is a row with its numbers; no workers, no table.
    #[test]
    fn table_lists_each_worker() {
        let rows = vec![
            WorkerRow {
                id: 1,
                host: "w-a".into(),
                cores: 2,
                state: "running",
                users: 25,
                rps: 1234.56,
                cpu_percent: 87.5,
                requests: 9000,
            },
            WorkerRow {
                id: 2,
                host: "w-b".into(),
                cores: 1,
                state: "lost",
                users: 0,
                rps: 0.0,
                cpu_percent: 0.0,
                requests: 10,
            },
        ];
        let table = console_table(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(
            lines[2].contains("w-a")
                && lines[2].contains("running")
                && lines[2].contains("1234.6")
                && lines[2].contains("87.5")
        );
        assert!(lines[3].contains("lost"));
        assert_eq!(console_table(&[]), "");
    }
}
