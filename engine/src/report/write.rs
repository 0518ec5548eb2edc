//! The one entry point that writes a finished run's reports: the console
//! summary, threshold verdicts, and every requested file (JSON, HTML, CSV).
//! A file that cannot be written is named and the others are still written;
//! the caller turns the result into an exit status.

use std::path::PathBuf;

use super::thresholds::{self, Threshold};
use super::{banner, csv, html, json, output, workers};
use crate::config::RunConfig;
use crate::run::control::RunOutcome;

/// What to report and where: from a run's config, or from `stampede report`'s flags.
#[derive(Debug, Clone, Default)]
pub struct ReportConfig {
    /// `--json` summary file.
    pub json: Option<PathBuf>,
    /// `--html` report file.
    pub html: Option<PathBuf>,
    /// `--csv` prefix.
    pub csv: Option<PathBuf>,
    /// `--csv-full-history`.
    pub csv_full_history: bool,
    /// Pass/fail criteria judged on the run.
    pub thresholds: Vec<Threshold>,
    /// Print nothing but errors, warnings and failed thresholds.
    pub quiet: bool,
}

impl ReportConfig {
    /// The reports a run's config asks for.
    pub fn of(config: &RunConfig) -> Self {
        ReportConfig {
            json: config.json.clone(),
            html: config.html.clone(),
            csv: config.csv.clone(),
            csv_full_history: config.csv_full_history,
            thresholds: config.thresholds.clone(),
            quiet: config.quiet,
        }
    }

    /// Checks, before any work, that every report file can be written;
    /// the error names the flag and the path.
    pub fn check_writable(&self) -> Result<(), String> {
        if let Some(path) = &self.html {
            output::check_writable(path)
                .map_err(|e| format!("--html: cannot write {}: {e}", path.display()))?;
        }
        if let Some(prefix) = &self.csv {
            csv::check_writable(prefix)
                .map_err(|e| format!("--csv: cannot write {}_*.csv: {e}", prefix.display()))?;
        }
        if let Some(path) = self.json.as_deref().filter(|p| !json::is_stdout(p)) {
            output::check_writable(path)
                .map_err(|e| format!("--json: cannot write {}: {e}", path.display()))?;
        }
        Ok(())
    }
}

/// How writing the reports went.
#[derive(Debug, Default)]
pub struct Written {
    /// Some threshold failed.
    pub threshold_failed: bool,
    /// Files that could not be written, each with its error.
    pub errors: Vec<String>,
}

/// Prints the summary and verdicts and writes every requested file.
pub fn write_reports(config: &ReportConfig, outcome: &RunOutcome) -> Written {
    let mut written = Written::default();
    if !config.quiet {
        let reason = outcome.stop_reason.as_str();
        println!(
            "{}",
            banner::final_report(&outcome.aggregator, &outcome.info, reason)
        );
        print!(
            "{}",
            workers::console_table(&outcome.workers, workers::Figures::OverRun)
        );
    }
    for warning in &outcome.warnings {
        eprintln!("warning: {warning}");
    }
    let verdicts = thresholds::evaluate(
        &config.thresholds,
        &outcome.aggregator,
        outcome.info.duration_s,
    );
    written.threshold_failed = verdicts.iter().any(|v| !v.passed);
    if !verdicts.is_empty() && (!config.quiet || written.threshold_failed) {
        // With the JSON on stdout, stdout holds nothing else.
        if config.json.as_deref().is_some_and(json::is_stdout) {
            eprintln!("\n{}", thresholds::verdict_table(&verdicts));
        } else {
            println!("\n{}", thresholds::verdict_table(&verdicts));
        }
    }
    let mut done = |what: &str, path: String, result: std::io::Result<()>| match result {
        Ok(()) if !config.quiet => println!("{what} written to {path}"),
        Ok(()) => {}
        Err(e) => written.errors.push(format!("cannot write {path}: {e}")),
    };
    if let Some(path) = &config.json {
        let result = json::write_summary(path, &outcome.aggregator, &outcome.info, &verdicts);
        done("JSON summary", path.display().to_string(), result);
    }
    if let Some(path) = &config.html {
        let notes = html::Notes {
            stop_reason: Some(outcome.stop_reason.as_str()),
            warnings: &outcome.warnings,
            workers: &outcome.workers,
        };
        let result = html::write_report(path, &outcome.aggregator, &outcome.info, &notes);
        done("HTML report", path.display().to_string(), result);
    }
    if let Some(prefix) = &config.csv {
        let result = csv::write_csv(
            prefix,
            &outcome.aggregator,
            &outcome.info,
            config.csv_full_history,
        )
        .map(|_| ());
        done("CSV reports", format!("{}_*.csv", prefix.display()), result);
    }
    for error in &written.errors {
        eprintln!("error: {error}");
    }
    written
}

/// `stampede report RUN`: the saved run replayed through the same merge and
/// rendered by the same writers as a live run; judged by `thresholds`, else
/// by the run's own. Returns the exit status.
pub fn replay(run: &std::path::Path, mut config: ReportConfig, thresholds: &[String]) -> u8 {
    use crate::run::session::{exit, usage};
    for text in thresholds {
        match thresholds::parse_threshold(text) {
            Ok(threshold) => config.thresholds.push(threshold),
            Err(e) => return usage(&format!("--threshold: {e}")),
        }
    }
    if let Err(message) = config.check_writable() {
        return usage(&message);
    }
    let outcome = match super::runfile::load(run, config.csv_full_history) {
        Ok(outcome) => outcome,
        Err(e) => return usage(&format!("{}: {e}", run.display())),
    };
    if thresholds.is_empty() {
        match super::runfile::saved_thresholds(&outcome.info) {
            Ok(saved) => config.thresholds = saved,
            Err(e) => return usage(&format!("{}: {e}", run.display())),
        }
    }
    let written = write_reports(&config, &outcome);
    if !written.errors.is_empty() {
        exit::RUN_ERROR
    } else if written.threshold_failed {
        exit::THRESHOLD_FAILED
    } else {
        exit::SUCCESS
    }
}
