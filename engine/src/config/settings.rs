//! Settings as text, layered by precedence: command-line flags, then
//! `STAMPEDE_<KEY>` variables, then a Locust-style config file, then the
//! scenario's own run settings; each keeps where it came from, so an error
//! can name the flag, variable or file line. Typing them is `RunConfig`'s job.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A setting's value and where it came from.
#[derive(Debug, Clone)]
pub struct Setting {
    /// The raw text.
    pub value: String,
    /// Where it was given, for error messages.
    pub origin: Origin,
}

/// Where a setting was given.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A command-line flag, e.g. `--users`.
    Flag(&'static str),
    /// An environment variable.
    Env(String),
    /// A field of a test started from the web UI or its API.
    Api(&'static str),
    /// A line of a config file.
    File {
        path: PathBuf,
        line: usize,
        key: String,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => write!(f, "{flag}"),
            Origin::Env(name) => write!(f, "environment variable {name}"),
            Origin::Api(field) => write!(f, "start request field '{field}'"),
            Origin::File { path, line, key } => {
                write!(f, "{}, line {line}, key '{key}'", path.display())
            }
        }
    }
}

/// A setting that could not be used, naming its flag, variable or file line.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct ConfigError {
    /// Where the bad value was given (or the flag that is missing).
    pub origin: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    pub(super) fn new(origin: impl fmt::Display, message: impl Into<String>) -> Self {
        ConfigError {
            origin: origin.to_string(),
            message: message.into(),
        }
    }
}

/// How a key is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyUse {
    /// stampede uses it.
    Used,
    /// A known Locust key stampede accepts but does not act on yet.
    Ignored,
}

/// Every key accepted in config files and `STAMPEDE_` variables, with its flag.
const KEYS: &[(&str, &str, KeyUse)] = &[
    ("scenario", "--scenario", KeyUse::Used),
    ("host", "--host", KeyUse::Used),
    ("path", "--path", KeyUse::Used),
    ("method", "--method", KeyUse::Used),
    ("header", "--header", KeyUse::Used),
    ("body", "--body", KeyUse::Used),
    ("users", "--users", KeyUse::Used),
    ("spawn-rate", "--spawn-rate", KeyUse::Used),
    ("run-time", "--run-time", KeyUse::Used),
    ("iterations", "--iterations", KeyUse::Used),
    ("rate", "--rate", KeyUse::Used),
    ("max-in-flight", "--max-in-flight", KeyUse::Used),
    ("stages", "--stages", KeyUse::Used),
    ("rate-stages", "--rate-stages", KeyUse::Used),
    ("step-users", "--step-users", KeyUse::Used),
    ("step-time", "--step-time", KeyUse::Used),
    ("calibrate", "--calibrate", KeyUse::Used),
    ("threads", "--threads", KeyUse::Used),
    ("io-driver", "--io-driver", KeyUse::Used),
    ("processes", "--processes", KeyUse::Used),
    ("insecure", "--insecure", KeyUse::Used),
    ("cacert", "--cacert", KeyUse::Used),
    ("cert", "--cert", KeyUse::Used),
    ("key", "--key", KeyUse::Used),
    ("source-ips", "--source-ips", KeyUse::Used),
    ("pipeline", "--pipeline", KeyUse::Used),
    ("resolve", "--resolve", KeyUse::Used),
    ("dns-ttl", "--dns-ttl", KeyUse::Used),
    ("max-connecting", "--max-connecting", KeyUse::Used),
    ("max-body-capture", "--max-body-capture", KeyUse::Used),
    ("allow-low-fd-limit", "--allow-low-fd-limit", KeyUse::Used),
    ("timeout", "--timeout", KeyUse::Used),
    ("read-timeout", "--read-timeout", KeyUse::Used),
    ("compressed", "--compressed", KeyUse::Used),
    ("max-redirects", "--max-redirects", KeyUse::Used),
    ("http-debug", "--http-debug", KeyUse::Used),
    ("stop-timeout", "--stop-timeout", KeyUse::Used),
    ("json", "--json", KeyUse::Used),
    ("save-run", "--save-run", KeyUse::Used),
    ("print-interval", "--print-interval", KeyUse::Used),
    ("only-summary", "--only-summary", KeyUse::Used),
    ("quiet", "--quiet", KeyUse::Used),
    ("abort-on-fail", "--abort-on-fail", KeyUse::Used),
    ("abort-delay", "--abort-delay", KeyUse::Used),
    ("headless", "--headless", KeyUse::Used),
    ("html", "--html", KeyUse::Used),
    ("csv", "--csv", KeyUse::Used),
    ("csv-full-history", "--csv-full-history", KeyUse::Used),
    ("threshold", "--threshold", KeyUse::Used),
    ("locustfile", "--locustfile", KeyUse::Used),
    ("master", "--master", KeyUse::Used),
    ("worker", "--worker", KeyUse::Used),
    ("expect-workers", "--expect-workers", KeyUse::Used),
    ("master-host", "--master-host", KeyUse::Used),
    ("master-port", "--master-port", KeyUse::Used),
    ("master-bind-host", "--master-bind-host", KeyUse::Used),
    ("master-bind-port", "--master-bind-port", KeyUse::Used),
    ("class-weights", "--class-weights", KeyUse::Used),
    ("metrics", "--metrics", KeyUse::Used),
    ("metrics-buckets", "--metrics-buckets", KeyUse::Used),
    (
        "metrics-max-endpoints",
        "--metrics-max-endpoints",
        KeyUse::Used,
    ),
    (
        "metrics-worker-labels",
        "--metrics-worker-labels",
        KeyUse::Used,
    ),
    ("jsonl", "--jsonl", KeyUse::Used),
    (
        "prometheus-remote-write",
        "--prometheus-remote-write",
        KeyUse::Used,
    ),
    (
        "remote-write-interval",
        "--remote-write-interval",
        KeyUse::Used,
    ),
    ("web", "--web", KeyUse::Used),
    ("web-host", "--web-host", KeyUse::Used),
    ("web-port", "--web-port", KeyUse::Used),
    ("web-auth", "--web-auth", KeyUse::Used),
    ("web-login", "--web-login", KeyUse::Ignored),
    ("autostart", "--autostart", KeyUse::Used),
    ("autoquit", "--autoquit", KeyUse::Used),
    ("token", "--token", KeyUse::Used),
    ("bind", "--bind", KeyUse::Used),
    ("wait-timeout", "--wait-timeout", KeyUse::Used),
    ("on-worker-loss", "--on-worker-loss", KeyUse::Used),
    ("coordinator", "--coordinator", KeyUse::Used),
    ("connect-timeout", "--connect-timeout", KeyUse::Used),
    (
        "accept-coordinator-tls",
        "--accept-coordinator-tls",
        KeyUse::Used,
    ),
    ("loglevel", "--loglevel", KeyUse::Ignored),
    ("logfile", "--logfile", KeyUse::Ignored),
    ("exit-code-on-error", "--exit-code-on-error", KeyUse::Used),
    ("connect-backoff", "--connect-backoff", KeyUse::Used),
    ("aws-sigv4", "--aws-sigv4", KeyUse::Used),
    ("aws-sign-payload", "--aws-sign-payload", KeyUse::Used),
    ("aws-sigv4-mode", "--aws-sigv4-mode", KeyUse::Used),
    ("aws-sigv4-expires", "--aws-sigv4-expires", KeyUse::Used),
    ("reset-stats", "--reset-stats", KeyUse::Ignored),
    ("class-picker", "--class-picker", KeyUse::Ignored),
    ("tags", "--tags", KeyUse::Used),
    ("exclude-tags", "--exclude-tags", KeyUse::Used),
    // Hidden: no flag; `stampede s3` sets it (a conf file or
    // STAMPEDE_OBJECT_REPORT may too). Reports add the object table.
    ("object-report", "object-report", KeyUse::Used),
];

/// The canonical key for `key`, if it is one stampede knows.
pub fn known_key(key: &str) -> Option<&'static str> {
    KEYS.iter().find(|(k, _, _)| *k == key).map(|(k, _, _)| *k)
}

/// The flag that sets `key`, for messages.
fn flag_of(key: &str) -> &'static str {
    KEYS.iter()
        .find(|(k, _, _)| *k == key)
        .map_or("--?", |(_, flag, _)| flag)
}

/// All settings of a run, layered by precedence; the first source to set a key wins.
#[derive(Debug, Default, Clone)]
pub struct Settings {
    /// Canonical key (`spawn-rate`) to its setting.
    values: BTreeMap<&'static str, Setting>,
    /// Warnings about ignored or unknown keys, shown before the run.
    pub warnings: Vec<String>,
}

impl Settings {
    /// Adds a command-line flag value (highest precedence; call first).
    pub fn flag(&mut self, key: &'static str, value: impl Into<String>) {
        let setting = Setting {
            value: value.into(),
            origin: Origin::Flag(flag_of(key)),
        };
        self.values.entry(key).or_insert(setting);
    }

    /// Sets `key` from a web API start request, above every other source;
    /// `field` is the request's field name, for messages.
    pub fn api(&mut self, key: &'static str, field: &'static str, value: impl Into<String>) {
        let setting = Setting {
            value: value.into(),
            origin: Origin::Api(field),
        };
        self.values.insert(key, setting);
    }

    /// Removes `key` (a start request that switches between users and rate).
    pub fn remove(&mut self, key: &str) {
        self.values.remove(key);
    }

    /// Adds every `STAMPEDE_<KEY>` variable from `vars` not already set by a flag.
    pub fn env(&mut self, vars: impl IntoIterator<Item = (String, String)>) {
        for (name, value) in vars {
            let Some(rest) = name.strip_prefix("STAMPEDE_") else {
                continue;
            };
            let key = rest.to_ascii_lowercase().replace('_', "-");
            match KEYS.iter().find(|(k, _, _)| *k == key) {
                Some((key, _, use_)) => {
                    self.note_ignored(key, *use_, &name);
                    let setting = Setting {
                        value,
                        origin: Origin::Env(name),
                    };
                    self.values.entry(key).or_insert(setting);
                }
                None => self
                    .warnings
                    .push(format!("ignoring unknown environment variable {name}")),
            }
        }
    }

    /// Adds run settings a scenario file sets, (key, value, line), not already set.
    pub fn scenario(&mut self, path: &Path, entries: Vec<(&'static str, String, usize)>) {
        for (key, value, line) in entries {
            let origin = Origin::File {
                path: path.to_path_buf(),
                line,
                key: key.replace('-', "_"),
            };
            self.values.entry(key).or_insert(Setting { value, origin });
        }
    }

    /// Adds the keys of a Locust-style config file not already set. Every
    /// key stampede does not honour (unknown, or known and not supported) is
    /// listed in one warning for the file.
    pub fn file(&mut self, path: &Path, text: &str) {
        let mut ignored = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = strip_comment(raw).trim();
            if line.is_empty() || line.starts_with('[') {
                continue;
            }
            let origin_line = index + 1;
            let Some((key, value)) = line.split_once('=') else {
                ignored.push(format!("a line without '=' (line {origin_line})"));
                continue;
            };
            let key = key.trim().to_ascii_lowercase().replace('_', "-");
            let value = value.trim().trim_matches('"').to_string();
            match KEYS.iter().find(|(k, _, _)| *k == key) {
                Some((known, _, use_)) => {
                    if *use_ == KeyUse::Ignored {
                        ignored.push(format!("'{known}' (line {origin_line}, not supported)"));
                    }
                    let origin = Origin::File {
                        path: path.to_path_buf(),
                        line: origin_line,
                        key,
                    };
                    self.values
                        .entry(known)
                        .or_insert(Setting { value, origin });
                }
                None => ignored.push(format!("unknown key '{key}' (line {origin_line})")),
            }
        }
        if !ignored.is_empty() {
            self.warnings.push(format!(
                "{}: not honoured by stampede, ignored: {}",
                path.display(),
                ignored.join(", ")
            ));
        }
    }

    fn note_ignored(&mut self, key: &str, use_: KeyUse, place: &str) {
        if use_ == KeyUse::Ignored {
            self.warnings.push(format!(
                "{place}: '{key}' is not supported by this version, ignored"
            ));
        }
    }

    /// Every setting as (key, text), after precedence.
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        self.values
            .iter()
            .map(|(k, s)| (*k, s.value.clone()))
            .collect()
    }

    /// The setting for `key`, if any source gave it.
    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.values.get(key)
    }

    /// Parses `key` with `parse`, naming the origin on error.
    pub(super) fn parsed<T>(
        &self,
        key: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(s) => parse(&s.value)
                .map(Some)
                .map_err(|m| ConfigError::new(&s.origin, m)),
        }
    }

    /// The origin of `key` for messages, or its flag when unset.
    pub(super) fn origin(&self, key: &str) -> String {
        self.get(key)
            .map_or_else(|| flag_of(key).to_string(), |s| s.origin.to_string())
    }
}

/// Removes a `#` comment (also one after a value).
fn strip_comment(line: &str) -> &str {
    line.split_once('#').map_or(line, |(before, _)| before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RunConfig;

    /// Flags beat env, env beats the file; unknown keys warn; bad values name the line.
    #[test]
    fn precedence_and_file_errors() {
        let mut s = Settings::default();
        s.flag("users", "7");
        s.env(vec![
            ("STAMPEDE_USERS".to_string(), "8".to_string()),
            ("STAMPEDE_RUN_TIME".to_string(), "3s".to_string()),
            ("PATH".to_string(), "/bin".to_string()),
        ]);
        let conf = "# Locust master.conf\nhost = http://127.0.0.1:1\nusers = 9\nrun-time = 9s  # comment\nloglevel = a\nfoo = bar\nspawn-rate = x\n";
        s.file(Path::new("master.conf"), conf);
        assert_eq!(s.get("users").unwrap().value, "7");
        assert_eq!(s.get("run-time").unwrap().value, "3s");
        // One warning lists every key the file gives that is not honoured.
        assert_eq!(
            s.warnings,
            vec![
                "master.conf: not honoured by stampede, ignored: 'loglevel' (line 5, not supported), \
                 unknown key 'foo' (line 6)"
                    .to_string()
            ]
        );
        let err = RunConfig::from_settings(&s, 2).unwrap_err().to_string();
        assert_eq!(
            err,
            "master.conf, line 7, key 'spawn-rate': invalid rate 'x'"
        );
    }

    /// `object-report` has no flag; a conf file or `STAMPEDE_OBJECT_REPORT`
    /// sets it, and a bad value names where it was given.
    #[test]
    fn object_report_is_a_hidden_run_setting() {
        let config = |s: &Settings| RunConfig::from_settings(s, 1);
        let mut s = Settings::default();
        s.flag("host", "http://127.0.0.1:1");
        assert!(!config(&s).unwrap().object_report);
        let mut on = s.clone();
        on.env(vec![("STAMPEDE_OBJECT_REPORT".into(), "true".into())]);
        assert!(config(&on).unwrap().object_report);
        s.file(Path::new("s3.conf"), "object-report = maybe\n");
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        let err = config(&s).unwrap_err().to_string();
        assert_eq!(
            err,
            "s3.conf, line 1, key 'object-report': invalid boolean 'maybe' (use true or false)"
        );
    }
}
