//! Run files on disk (`--save-run FILE`): a finished run's merged snapshots
//! and facts written atomically, read back and replayed through a fresh
//! aggregator, so `stampede report` renders the very numbers the live run
//! did and `stampede compare` judges two runs.
//!
//! The byte layout and its validation are `stampede_proto`'s (`encode_run`,
//! `decode_run`); merging is the aggregator's, the same path the live run
//! took; comparing is `compare`'s. This module only moves bytes between the
//! two and checks up front that a run file can be written.

use std::fs;
use std::io;
use std::path::Path;

use serde_json::Value;
use stampede_proto::{decode_run, encode_run, is_run_file, RunFacts, RunFileError, RunRecord};

use super::compare::RunMetrics;
use super::json::RunInfo;
use super::thresholds::{parse_threshold, Threshold};
use crate::run::control::{RunOutcome, StopReason};
use crate::stats::Aggregator;

/// Checks before a run that the report can later be written at a path.
pub use super::output::check_writable;

/// Why a run file (or summary, for `compare`) could not be loaded; one line each.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Io(#[from] io::Error),
    /// The bytes are not a valid run file.
    #[error("{0}")]
    Format(#[from] RunFileError),
    /// The run file is intact but its contents do not make a run.
    #[error("corrupt run file: {0}")]
    Contents(String),
    /// `compare` was given something that is neither a run file nor a JSON summary.
    #[error(
        "neither a stampede run file (--save-run) nor a stampede.summary/1 JSON summary ({0})"
    )]
    Unrecognized(String),
}

/// Writes the run file of a finished run: to a temp file beside `path`, then
/// renamed over it. A live run's snapshots come from its spool, streamed.
pub fn write_run(path: &Path, outcome: &RunOutcome) -> io::Result<()> {
    let facts = facts_of(outcome)?;
    if let Some(spool) = &outcome.spool {
        return spool.write_run(path, &facts);
    }
    let bytes = encode_run(&facts, &outcome.snapshots).map_err(io::Error::other)?;
    super::output::write_atomic(path, &bytes)
}

/// A run's merged snapshots, written to disk as they are merged (`--save-run`),
/// so a 24-hour run keeps none of them in memory: a hidden file beside the
/// run file, of frames ready to be streamed into it at the end, removed then
/// (or when the run is dropped).
pub struct Spool {
    /// The spool file, buffered; `None` after a write failed.
    file: std::sync::Mutex<Option<io::BufWriter<fs::File>>>,
    /// Where it is.
    path: std::path::PathBuf,
    /// The first write error, reported when the run file is written.
    error: std::sync::Mutex<Option<String>>,
    /// A reused buffer for one frame.
    frame: Vec<u8>,
}

impl Spool {
    /// Creates the spool for a run file to be written at `run_path`.
    pub fn create(run_path: &Path) -> io::Result<Spool> {
        let temp = super::output::temp_path(run_path)?;
        let path = temp.with_extension("spool");
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        // Unlinked at once: the open handle is all the spool is, so no exit
        // (not even a second Ctrl-C) leaves it on disk, and no link put in
        // its place later is ever read.
        fs::remove_file(&path)?;
        Ok(Spool {
            file: std::sync::Mutex::new(Some(io::BufWriter::with_capacity(1 << 16, file))),
            path,
            error: std::sync::Mutex::new(None),
            frame: Vec::new(),
        })
    }

    /// Appends a merged snapshot. A failed write stops the spool; the error
    /// is reported when the run file is written.
    pub fn push(&mut self, snapshot: &stampede_proto::Snapshot) {
        use std::io::Write;
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let Some(out) = file.as_mut() else {
            return;
        };
        self.frame.clear();
        let written = stampede_proto::encode_snapshot(snapshot)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                stampede_proto::append_frame(&mut self.frame, &bytes).map_err(|e| e.to_string())
            })
            .and_then(|()| out.write_all(&self.frame).map_err(|e| e.to_string()));
        if let Err(e) = written {
            *file = None;
            let mut error = self.error.lock().unwrap_or_else(|e| e.into_inner());
            error.get_or_insert(format!(
                "cannot spool the run to {}: {e}",
                self.path.display()
            ));
        }
    }

    /// Writes the run file: header and facts, the spooled frames, checksum.
    pub fn write_run(&self, path: &Path, facts: &RunFacts) -> io::Result<()> {
        use std::io::Write;
        if let Some(e) = self
            .error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            return Err(io::Error::other(e.clone()));
        }
        let mut spooled = {
            let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
            let out = file
                .as_mut()
                .ok_or_else(|| io::Error::other("the spool was closed"))?;
            out.flush()?;
            let mut handle = out.get_ref().try_clone()?;
            io::Seek::seek(&mut handle, io::SeekFrom::Start(0))?;
            handle
        };
        super::output::write_atomic_with(path, |file| {
            let out = io::BufWriter::with_capacity(1 << 16, file);
            let mut writer = stampede_proto::RunFileWriter::start(out, facts)?;
            let mut chunk = vec![0u8; 1 << 16];
            loop {
                let n = io::Read::read(&mut spooled, &mut chunk)?;
                if n == 0 {
                    break;
                }
                writer.write_framed(&chunk[..n])?;
            }
            writer.finish()?.flush()
        })
    }
}

/// Loads a run file and replays its snapshots into a fresh aggregator, one
/// with per-endpoint series when `endpoint_series` (as `--csv-full-history`
/// makes the live run keep). The outcome's `snapshots` are left empty.
pub fn load(path: &Path, endpoint_series: bool) -> Result<RunOutcome, LoadError> {
    let record = decode_run(&fs::read(path)?)?;
    outcome_of(record, endpoint_series)
}

/// What `compare` reads of a file: a run file replayed (exact percentiles),
/// or a `stampede.summary/1` JSON summary (percentiles rounded to the µs).
pub fn load_metrics(path: &Path) -> Result<RunMetrics, LoadError> {
    let bytes = fs::read(path)?;
    if is_run_file(&bytes) {
        let outcome = outcome_of(decode_run(&bytes)?, false)?;
        return Ok(RunMetrics::of_aggregator(
            &outcome.aggregator,
            outcome.info.duration_s,
        ));
    }
    let summary: Value = serde_json::from_slice(&bytes)
        .map_err(|e| LoadError::Unrecognized(format!("not JSON: {e}")))?;
    RunMetrics::from_summary(&summary).map_err(LoadError::Unrecognized)
}

/// The thresholds a run was judged by, as its config recorded them (flags,
/// files and the scenario's `[thresholds]` together).
pub fn saved_thresholds(info: &RunInfo) -> Result<Vec<Threshold>, LoadError> {
    let Some(saved) = info.config.get("thresholds") else {
        return Ok(Vec::new());
    };
    let texts = saved
        .as_array()
        .ok_or_else(|| LoadError::Contents("config.thresholds is not a list".into()))?;
    texts
        .iter()
        .map(|text| {
            let text = text.as_str().ok_or_else(|| {
                LoadError::Contents("config.thresholds holds a non-text entry".into())
            })?;
            parse_threshold(text).map_err(|e| LoadError::Contents(format!("saved threshold: {e}")))
        })
        .collect()
}

/// The facts a run file keeps about `outcome`.
fn facts_of(outcome: &RunOutcome) -> io::Result<RunFacts> {
    let info = &outcome.info;
    Ok(RunFacts {
        duration_s: info.duration_s,
        started_unix_ms: info.started_unix_ms,
        threads: info.threads as u64,
        io_driver: info.io_driver.clone(),
        cpu_seconds: info.cpu_seconds,
        max_rss_kb: info.max_rss_kb,
        fd_limit: info.fd_limit,
        connections_opened: outcome.connections_opened,
        stop_reason: outcome.stop_reason.as_str().to_string(),
        warnings: outcome.warnings.clone(),
        config_json: serde_json::to_string(&info.config)?,
    })
}

/// Rebuilds a run's outcome: its facts, and its snapshots merged in their saved order.
pub(crate) fn outcome_of(
    record: RunRecord,
    endpoint_series: bool,
) -> Result<RunOutcome, LoadError> {
    let facts = record.facts;
    let stop_reason = StopReason::from_name(&facts.stop_reason).ok_or_else(|| {
        LoadError::Contents(format!("unknown stop reason '{}'", facts.stop_reason))
    })?;
    let config: Value = serde_json::from_str(&facts.config_json)
        .map_err(|e| LoadError::Contents(format!("config is not JSON: {e}")))?;
    let mut aggregator = if endpoint_series {
        Aggregator::with_endpoint_series()
    } else {
        Aggregator::new()
    };
    // Each source saves one snapshot per interval from the first, so a
    // file of n snapshots covers at most n intervals. A later index is
    // corrupt, and merging it would first fill the series up to it.
    let intervals_max = record.snapshots.len();
    for (index, snapshot) in record.snapshots.iter().enumerate() {
        if snapshot.interval as usize > intervals_max {
            return Err(LoadError::Contents(format!(
                "snapshot {index}: interval {} is past the {intervals_max} intervals a file of \
                 {intervals_max} snapshots can cover",
                snapshot.interval
            )));
        }
        aggregator
            .merge(snapshot)
            .map_err(|e| LoadError::Contents(format!("snapshot {index}: {e}")))?;
    }
    let threads = usize::try_from(facts.threads)
        .map_err(|_| LoadError::Contents(format!("{} threads", facts.threads)))?;
    Ok(RunOutcome {
        aggregator,
        info: RunInfo {
            duration_s: facts.duration_s,
            started_unix_ms: facts.started_unix_ms,
            threads,
            io_driver: facts.io_driver,
            cpu_seconds: facts.cpu_seconds,
            max_rss_kb: facts.max_rss_kb,
            fd_limit: facts.fd_limit,
            config,
        },
        stop_reason,
        connections_opened: facts.connections_opened,
        warnings: facts.warnings,
        snapshots: Vec::new(),
        spool: None,
        workers: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{csv, json};
    use crate::stats::test_support::{endpoint, snapshot};
    use serde_json::json;
    use stampede_proto::FailureKind::Status;
    use stampede_proto::Snapshot;
    use std::path::PathBuf;

    /// A fresh directory for one test.
    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("stampede-runfile-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Two sources over three intervals, a failure, a late final interval, as a live run merges them.
    fn snapshots() -> Vec<Snapshot> {
        let fail = [(Status, "HTTP 500", 1)];
        let mut last = snapshot(0, 3, 4, vec![endpoint("GET", "/", &[150, 90_000], &[])]);
        (last.elapsed_ms, last.is_final, last.cpu_us) = (2_500, true, 3_000);
        vec![
            snapshot(
                0,
                1,
                3,
                vec![endpoint("GET", "/", &[100, 2_345, 7_777], &[])],
            ),
            snapshot(1, 1, 2, vec![endpoint("POST", "/login", &[50, 51], &fail)]),
            snapshot(1, 2, 2, vec![endpoint("GET", "/", &[1_234_567], &[])]),
            last,
        ]
    }

    fn outcome() -> RunOutcome {
        let mut aggregator = Aggregator::with_endpoint_series();
        for s in snapshots() {
            aggregator.merge(&s).unwrap();
        }
        RunOutcome {
            aggregator,
            info: RunInfo {
                duration_s: 2.5 + 1e-9,
                started_unix_ms: 1_700_000_000_400,
                threads: 2,
                io_driver: "epoll".into(),
                cpu_seconds: 0.1 + 0.2,
                max_rss_kb: 10_240,
                fd_limit: 1_024,
                config: json!({ "users": 5, "timeout": 1.1, "thresholds": ["p95 < 1s"] }),
            },
            stop_reason: StopReason::ThresholdFailed,
            connections_opened: 5,
            warnings: vec!["shard 1: in-flight requests cut off".into()],
            snapshots: snapshots(),
            spool: None,
            workers: Vec::new(),
        }
    }

    /// A saved run loads back into the same facts and, replayed, the same JSON and CSV reports.
    #[test]
    fn saved_run_renders_the_same_reports() {
        let dir = scratch("round-trip");
        let path = dir.join("base.run");
        let live = outcome();
        write_run(&path, &live).unwrap();
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["base.run"], "no temp file is left");
        let back = load(&path, true).unwrap();
        assert_eq!(
            back.info.duration_s.to_bits(),
            live.info.duration_s.to_bits()
        );
        assert_eq!(back.info.config, live.info.config);
        assert_eq!(
            (back.stop_reason, back.connections_opened),
            (StopReason::ThresholdFailed, 5)
        );
        assert_eq!(back.warnings, live.warnings);
        assert!(back.snapshots.is_empty());
        let live_json = json::summary(&live.aggregator, &live.info, &[]);
        assert_eq!(json::summary(&back.aggregator, &back.info, &[]), live_json);
        let history =
            |o: &RunOutcome| csv::stats_history_csv(&o.aggregator, o.info.started_unix_ms, true);
        assert_eq!(history(&back), history(&live));
        assert!(history(&back).contains("POST,/login"));
        let plain = load(&path, false).unwrap();
        assert!(!plain.aggregator.keeps_endpoint_series());
        assert_eq!(
            json::summary(&plain.aggregator, &plain.info, &[]),
            live_json
        );
        let saved: Vec<String> = saved_thresholds(&back.info)
            .unwrap()
            .iter()
            .map(|t| t.to_string())
            .collect();
        assert_eq!(saved, ["p95 < 1s"]);
        let metrics = load_metrics(&path).unwrap();
        assert_eq!(
            metrics,
            RunMetrics::of_aggregator(&live.aggregator, live.info.duration_s)
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Missing, foreign, truncated and corrupt files each fail with one line saying which.
    #[test]
    fn bad_run_files_fail_with_one_line() {
        let dir = scratch("bad");
        let path = dir.join("base.run");
        write_run(&path, &outcome()).unwrap();
        let bytes = fs::read(&path).unwrap();
        let cases: [(&str, Vec<u8>, &str); 4] = [
            (
                "foreign",
                b"time,rps\n1,2\n".to_vec(),
                "not a stampede run file",
            ),
            (
                "truncated",
                bytes[..bytes.len() - 100].to_vec(),
                "checksum mismatch",
            ),
            (
                "version",
                [&bytes[..8], &[9, 0], &bytes[10..]].concat(),
                "format version 9",
            ),
            ("empty", Vec::new(), "not a stampede run file"),
        ];
        for (name, content, expected) in cases {
            let file = dir.join(name);
            fs::write(&file, content).unwrap();
            let err = load(&file, false).err().unwrap().to_string();
            assert!(
                err.contains(expected) && err.lines().count() == 1,
                "{name}: {err}"
            );
        }
        let err = load(&dir.join("missing.run"), false)
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("cannot read: "), "{err}");
        fs::write(dir.join("foreign"), "{\"schema\": \"x\"}").unwrap();
        let err = load_metrics(&dir.join("foreign")).unwrap_err().to_string();
        assert!(err.starts_with("neither a stampede run file"), "{err}");
        // An intact file whose snapshot the aggregator refuses.
        let mut bad = outcome();
        bad.snapshots[2].interval = 0;
        write_run(&path, &bad).unwrap();
        let err = load(&path, false).err().unwrap().to_string();
        assert!(
            err.starts_with("corrupt run file: snapshot 2: ") && err.contains("interval 0"),
            "{err}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Found by `fuzz_run_file_replay`: a run file of one snapshot whose
    /// interval was 604 800 (seven days, the most a snapshot may carry)
    /// made the replay fill the series with 604 800 points, each with a
    /// whole histogram, over a gigabyte and minutes, for a file of a few
    /// hundred bytes. It is refused as corrupt before anything is merged.
    #[test]
    fn interval_past_the_files_snapshots_is_refused() {
        let dir = scratch("far-interval");
        let path = dir.join("far.run");
        let mut far = outcome();
        far.snapshots = vec![snapshot(
            0,
            604_800,
            1,
            vec![endpoint("GET", "/", &[100], &[])],
        )];
        write_run(&path, &far).unwrap();
        let err = load(&path, true).err().unwrap().to_string();
        assert!(
            err.starts_with(
                "corrupt run file: snapshot 0: interval 604800 is past the 1 intervals"
            ),
            "{err}"
        );
        // The last interval of a file of n snapshots may be n.
        far.snapshots[0].interval = 1;
        write_run(&path, &far).unwrap();
        assert!(load(&path, true).is_ok());
        fs::remove_dir_all(&dir).unwrap();
    }

    /// The pre-run check accepts a writable place, leaving nothing, and refuses a missing directory or a directory.
    #[test]
    fn check_writable_probes_the_directory() {
        let dir = scratch("check");
        check_writable(&dir.join("base.run")).unwrap();
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        assert!(check_writable(&dir.join("missing").join("base.run")).is_err());
        let err = check_writable(&dir).unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
        assert!(write_run(&dir.join("missing").join("base.run"), &outcome()).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
