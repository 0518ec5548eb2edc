//! The Dockerfile, docker-compose.yml and Kubernetes manifests parse and run
//! the commands and flags this build understands (images cannot be built
//! here; the same commands run as plain processes in distributed.rs).
//!
//! The monitoring files too: the Grafana dashboard's queries use only the
//! metric and label names `/metrics` exports (read from the source that
//! builds them, engine/src/web/metrics.rs) and parse as PromQL (promtool),
//! and the compose `metrics` profile, Prometheus's scrape config, Grafana's
//! provisioning and the Kubernetes annotations agree on addresses, paths and
//! credentials. promtool and prometheus come from Debian's `prometheus`
//! package, which .ci/run installs; without it these tests are skipped with
//! a message, and fail under CI (the suite's rule, docs/testing.md).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde::Deserialize;
use serde_json::Value as Json;
use serde_yaml::Value;
use stampede_tests::{bin, repo_file};

fn yaml_docs(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(repo_file(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{path}: {e}")))
        .collect()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `stampede <args> --help` parses, proving every flag in the args exists.
fn assert_flags_exist(args: &[String]) {
    let subcommand = &args[0];
    let help = Command::new(bin("stampede"))
        .args([subcommand.as_str(), "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for arg in &args[1..] {
        if let Some(flag) = arg.strip_prefix("--") {
            let name = flag.split('=').next().unwrap();
            assert!(
                help.contains(&format!("--{name}")),
                "`stampede {subcommand}` has no --{name}"
            );
        }
    }
}

/// The compose file runs a coordinator, scalable workers and the target, with matching addresses and token.
#[test]
fn compose_file_runs_coordinator_workers_and_target() {
    let compose = &yaml_docs("docker-compose.yml")[0]["services"];
    let coordinator = strings(&compose["coordinator"]["command"]);
    let worker = strings(&compose["worker"]["command"]);
    assert_eq!(coordinator[0], "coordinator");
    assert_eq!(worker[0], "worker");
    assert_flags_exist(&coordinator);
    assert_flags_exist(&worker);
    assert!(coordinator.contains(&"--bind=0.0.0.0:5557".to_string()));
    assert!(worker.contains(&"--coordinator=coordinator:5557".to_string()));
    assert_eq!(
        compose["coordinator"]["environment"]["STAMPEDE_TOKEN"],
        compose["worker"]["environment"]["STAMPEDE_TOKEN"]
    );
    assert!(
        compose["coordinator"]["environment"]["STAMPEDE_EXPECT_WORKERS"]
            .as_str()
            .is_some()
    );
    assert_eq!(compose["target"]["entrypoint"][0], "stampede-target");
    let target = strings(&compose["target"]["command"]);
    let scenario = coordinator
        .iter()
        .find_map(|a| a.strip_prefix("--scenario=/"))
        .expect("a scenario");
    assert!(
        repo_file(scenario).exists(),
        "{scenario} is not in the repository"
    );
    let accounts = target
        .iter()
        .find(|a| a.ends_with(".csv"))
        .unwrap()
        .trim_start_matches('/');
    assert!(repo_file(accounts).exists());
}

/// The Kubernetes manifests: a coordinator Job and Service, workers that reach it, replicas matching --expect-workers.
#[test]
fn kubernetes_manifests_agree() {
    let coordinator = yaml_docs("deploy/k8s/coordinator.yaml");
    let workers = yaml_docs("deploy/k8s/workers.yaml");
    let config = yaml_docs("deploy/k8s/configmap.yaml");
    let service = coordinator
        .iter()
        .find(|d| d["kind"] == "Service")
        .expect("a Service");
    let job = coordinator
        .iter()
        .find(|d| d["kind"] == "Job")
        .expect("a Job");
    let deployment = &workers[0];
    assert_eq!(deployment["kind"], "Deployment");
    let job_args = strings(&job["spec"]["template"]["spec"]["containers"][0]["args"]);
    let worker_args = strings(&deployment["spec"]["template"]["spec"]["containers"][0]["args"]);
    assert_flags_exist(&job_args);
    assert_flags_exist(&worker_args);
    let expect: u64 = job_args
        .iter()
        .find_map(|a| a.strip_prefix("--expect-workers="))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(deployment["spec"]["replicas"].as_u64(), Some(expect));
    let port = service["spec"]["ports"][0]["port"].as_u64().unwrap();
    let name = service["metadata"]["name"].as_str().unwrap();
    assert!(
        worker_args.contains(&format!("--coordinator={name}:{port}")),
        "{worker_args:?}"
    );
    assert!(job_args.contains(&format!("--bind=0.0.0.0:{port}")));
    let map = config.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
    let scenario = job_args
        .iter()
        .find_map(|a| a.strip_prefix("--scenario=/scenario/"))
        .unwrap();
    let text = map["data"][scenario]
        .as_str()
        .expect("the scenario is in the ConfigMap");
    let path = stampede_tests::temp_file("k8s.toml", text);
    let check = Command::new(bin("stampede"))
        .args([
            "run",
            "-f",
            path.to_str().unwrap(),
            "--host",
            "http://127.0.0.1:9",
            "-n",
            "0",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(
        stderr.contains("--iterations"),
        "the scenario parsed and only -n 0 was refused: {stderr}"
    );
}

/// The Dockerfile builds both binaries and starts stampede.
#[test]
fn dockerfile_builds_both_binaries() {
    let text = std::fs::read_to_string(repo_file("Dockerfile")).unwrap();
    assert!(text.contains("-p stampede-engine") && text.contains("-p stampede-target"));
    assert!(text.contains("ENTRYPOINT [\"stampede\"]"));
}

// ---------------------------------------------------------------------------
// Monitoring: the Grafana dashboard, Prometheus and the compose `metrics` profile.

/// The code that builds `/metrics`' families; the names are read from it.
const METRICS_SOURCE: &str = "engine/src/web/metrics.rs";
const DASHBOARD: &str = "deploy/grafana/stampede-dashboard.json";
const PROMETHEUS_CONFIG: &str = "deploy/prometheus/prometheus.yml";
const GRAFANA_DATASOURCES: &str = "deploy/grafana/provisioning/datasources/prometheus.yml";
const GRAFANA_DASHBOARDS: &str = "deploy/grafana/provisioning/dashboards/stampede.yml";
/// Labels Prometheus adds to every scraped series.
const SCRAPE_LABELS: &[&str] = &["job", "instance"];

/// What `/metrics` exports, read from [`METRICS_SOURCE`] rather than retyped:
/// each family's name and type from its `Family::new("name", Kind::X, ..)`
/// or `gauge("name", ..)` / `counter("name", ..)` call, and every label key
/// (`("key", value)` pairs) the code pushes.
struct Exported {
    /// Family name (`stampede_requests`) to its type (`Counter`, `Gauge`, `Histogram`).
    families: BTreeMap<String, String>,
    /// Label keys, `le` included.
    labels: BTreeSet<String>,
}

impl Exported {
    fn read() -> Exported {
        let text = std::fs::read_to_string(repo_file(METRICS_SOURCE)).unwrap();
        // The unit tests' strings are expected output, not families.
        let code = text.split("#[cfg(test)]").next().unwrap();
        let mut families = BTreeMap::new();
        for (start, _) in code.match_indices("\"stampede_") {
            let rest = &code[start + 1..];
            let name = &rest[..rest.find('"').unwrap()];
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{METRICS_SOURCE}: {name:?} is not a metric name; teach Exported::read this string"
            );
            let before = code[..start].trim_end();
            let kind = if before.ends_with("Family::new(") {
                let after = &rest[name.len()..];
                let at = after.find("Kind::").unwrap_or_else(|| {
                    panic!("{METRICS_SOURCE}: no Kind:: after Family::new(\"{name}\"")
                });
                after[at + "Kind::".len()..]
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .next()
                    .unwrap()
                    .to_string()
            } else if before.ends_with("gauge(") {
                "Gauge".to_string()
            } else if before.ends_with("counter(") {
                "Counter".to_string()
            } else {
                panic!(
                    "{METRICS_SOURCE}: cannot tell the type of {name} (not in Family::new, \
                     gauge or counter); teach Exported::read how it is built"
                )
            };
            assert!(
                ["Counter", "Gauge", "Histogram"].contains(&kind.as_str()),
                "{name}: unknown Kind::{kind}"
            );
            families.insert(name.to_string(), kind);
        }
        // Label pairs are tuples `("key", value)`: not a call's first
        // argument (`push("_total", ..)`), not a number table (`("ms", 1e-3)`).
        let mut labels = BTreeSet::new();
        for (start, _) in code.match_indices("(\"") {
            let call = code[..start]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            let rest = &code[start + 2..];
            let Some(end) = rest.find('"') else { continue };
            let key = &rest[..end];
            let Some(value) = rest[end + 1..].strip_prefix(',') else {
                continue;
            };
            let numeric = value
                .trim_start()
                .starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.');
            let label_name = key.starts_with(|c: char| c.is_ascii_lowercase())
                && key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !call && !numeric && label_name {
                labels.insert(key.to_string());
            }
        }
        // The reading works: the families every stampede run has are there.
        for family in [
            "stampede_requests",
            "stampede_response_time_seconds",
            "stampede_users",
        ] {
            assert!(
                families.contains_key(family),
                "{family} not found in {METRICS_SOURCE}"
            );
        }
        for label in ["run_id", "scenario", "method", "name", "le"] {
            assert!(
                labels.contains(label),
                "label {label} not found in {METRICS_SOURCE}"
            );
        }
        Exported { families, labels }
    }

    /// The series names a family's samples have, as Prometheus stores them.
    fn series_of(name: &str, kind: &str) -> Vec<String> {
        match kind {
            "Counter" => vec![format!("{name}_total")],
            "Histogram" => ["_bucket", "_sum", "_count"]
                .iter()
                .map(|suffix| format!("{name}{suffix}"))
                .collect(),
            _ => vec![name.to_string()],
        }
    }

    /// The family a series name belongs to.
    fn family_of(&self, series: &str) -> Option<&str> {
        self.families
            .iter()
            .find(|(name, kind)| Self::series_of(name, kind).iter().any(|s| s == series))
            .map(|(name, _)| name.as_str())
    }

    /// Whether a label can appear on a series Prometheus holds.
    fn has_label(&self, label: &str) -> bool {
        self.labels.contains(label) || SCRAPE_LABELS.contains(&label)
    }
}

/// The metric names and label names a PromQL expression refers to (Grafana
/// variables such as `$run_id` and `$__rate_interval` are skipped).
fn promql_names(expr: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    const KEYWORDS: &[&str] = &[
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "inf",
        "nan",
        "start",
        "end",
    ];
    const GROUPING: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    #[derive(Debug, PartialEq)]
    enum Token {
        Ident(String),
        Punct(char),
        Other,
    }
    let chars: Vec<char> = expr.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let ident_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '\'' || c == '`' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            tokens.push(Token::Other);
        } else if c == '$' {
            // A Grafana variable: $name or ${name}.
            i += 1;
            if chars.get(i) == Some(&'{') {
                while i < chars.len() && chars[i] != '}' {
                    i += 1;
                }
                i += 1;
            } else {
                while i < chars.len() && ident_char(chars[i]) {
                    i += 1;
                }
            }
            tokens.push(Token::Other);
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            tokens.push(Token::Other);
        } else if ident_char(c) {
            let start = i;
            while i < chars.len() && ident_char(chars[i]) {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else {
            tokens.push(Token::Punct(c));
            i += 1;
        }
    }
    let mut metrics = BTreeSet::new();
    let mut labels = BTreeSet::new();
    let mut braces = 0;
    let mut grouping = false;
    for (index, token) in tokens.iter().enumerate() {
        let next = tokens.get(index + 1);
        match token {
            Token::Punct('{') => braces += 1,
            Token::Punct('}') => braces -= 1,
            Token::Punct(')') if grouping => grouping = false,
            Token::Ident(word) if braces > 0 => {
                // Inside a selector: `label op "value"`.
                if matches!(next, Some(Token::Punct('=' | '!'))) {
                    labels.insert(word.clone());
                }
            }
            Token::Ident(word) if grouping => {
                labels.insert(word.clone());
            }
            Token::Ident(word) if GROUPING.contains(&word.as_str()) => {
                assert_eq!(next, Some(&Token::Punct('(')), "{expr}: {word} without (");
                grouping = true;
            }
            Token::Ident(word) => {
                // A function or an aggregation (`sum(`, `max by (`), else a metric.
                let function = match next {
                    Some(Token::Punct('(')) => true,
                    Some(Token::Ident(modifier)) => modifier == "by" || modifier == "without",
                    _ => false,
                };
                if !function && !KEYWORDS.contains(&word.as_str()) {
                    metrics.insert(word.clone());
                }
            }
            _ => {}
        }
    }
    (metrics, labels)
}

/// Every panel of a dashboard, those inside (collapsed) rows included.
fn all_panels(panels: &Json) -> Vec<&Json> {
    let mut out = Vec::new();
    for panel in panels.as_array().expect("a panels array") {
        out.push(panel);
        if let Some(nested) = panel.get("panels") {
            out.extend(all_panels(nested));
        }
    }
    out
}

/// The dashboard's PromQL: (where, expression, legend format) for every panel
/// target, and (where, selector, label) for every `label_values` variable.
struct DashboardQueries {
    targets: Vec<(String, String, String)>,
    variables: Vec<(String, String, String)>,
}

fn dashboard() -> Json {
    let text = std::fs::read_to_string(repo_file(DASHBOARD)).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}"))
}

fn dashboard_queries(dashboard: &Json) -> DashboardQueries {
    let mut targets = Vec::new();
    for panel in all_panels(&dashboard["panels"]) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let place = format!(
                "panel {} {:?} target {}",
                panel["id"], panel["title"], target["refId"]
            );
            let expr = target["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("{place}: no expr"));
            let legend = target["legendFormat"].as_str().unwrap_or_default();
            targets.push((place, expr.to_string(), legend.to_string()));
        }
    }
    let mut variables = Vec::new();
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if variable["type"] != "query" {
            continue;
        }
        let place = format!("variable {}", variable["name"]);
        let query = match &variable["query"] {
            Json::String(query) => query.clone(),
            other => other["query"].as_str().unwrap_or_default().to_string(),
        };
        let inner = query
            .trim()
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .unwrap_or_else(|| panic!("{place}: {query:?} is not label_values(selector, label)"));
        let (selector, label) = inner
            .rsplit_once(',')
            .unwrap_or_else(|| panic!("{place}: {query:?} names no metric"));
        variables.push((place, selector.trim().to_string(), label.trim().to_string()));
    }
    DashboardQueries { targets, variables }
}

/// A dashboard expression as Prometheus would get it from Grafana: the
/// interval variables as durations, the others (label values) as `.*`.
fn substitute_grafana_variables(expr: &str) -> String {
    let mut out = expr
        .replace("$__rate_interval", "4s")
        .replace("$__interval", "1s")
        .replace("$__range", "5m");
    while let Some(start) = out.find('$') {
        let rest = &out[start + 1..];
        let len = if rest.starts_with('{') {
            rest.find('}').map(|e| e + 1).unwrap_or(rest.len())
        } else {
            rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len())
        };
        out.replace_range(start..start + 1 + len, ".*");
    }
    out
}

/// A tool from Debian's `prometheus` package (`PROMTOOL` / `PROMETHEUS`
/// override the path); `None` when it is missing outside CI (`required`).
fn prometheus_tool(name: &str) -> Option<String> {
    let variable = name.to_ascii_uppercase();
    let path = std::env::var(&variable).unwrap_or_else(|_| format!("/usr/bin/{name}"));
    let need = format_args!(
        "{path} is needed to check the monitoring files: install Debian's `prometheus` package \
         (apt-get update && apt-get install -y prometheus; .ci/run does), or point {variable} at it"
    );
    stampede_tests::required(Path::new(&path).exists(), need).then_some(path)
}

/// The dashboard's queries name only series and labels `/metrics` exports,
/// and every panel reads the data source variable and the run/scenario filter.
#[test]
fn grafana_dashboard_uses_only_exported_metrics() {
    let exported = Exported::read();
    let dashboard = dashboard();
    assert!(
        dashboard["schemaVersion"].as_u64().unwrap() >= 41,
        "a current Grafana's schemaVersion"
    );
    assert_eq!(dashboard["uid"], "stampede");
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    let names: Vec<&str> = variables
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    for wanted in ["datasource", "scenario", "run_id", "name"] {
        assert!(names.contains(&wanted), "no ${wanted} variable: {names:?}");
    }
    let datasource = variables
        .iter()
        .find(|v| v["name"] == "datasource")
        .unwrap();
    assert_eq!(datasource["type"], "datasource");
    assert_eq!(datasource["query"], "prometheus");

    let series: BTreeSet<String> = exported
        .families
        .iter()
        .flat_map(|(name, kind)| Exported::series_of(name, kind))
        .collect();
    let queries = dashboard_queries(&dashboard);
    assert!(
        queries.targets.len() >= 20,
        "{} targets",
        queries.targets.len()
    );
    let check = |place: &str, expr: &str| {
        let (metrics, labels) = promql_names(expr);
        assert!(!metrics.is_empty(), "{place}: {expr} reads no metric");
        for metric in &metrics {
            assert!(
                series.contains(metric),
                "{place}: {metric} is not exported by {METRICS_SOURCE} (it has {series:?})"
            );
        }
        for label in &labels {
            assert!(
                exported.has_label(label),
                "{place}: label {label} is not exported by {METRICS_SOURCE} ({:?})",
                exported.labels
            );
        }
    };
    for (place, expr, legend) in &queries.targets {
        check(place, expr);
        // Runs never mix: every query is filtered to the selected run and scenario.
        assert!(
            expr.contains("run_id=~\"$run_id\"") && expr.contains("scenario=~\"$scenario\""),
            "{place}: {expr} is not filtered by $run_id and $scenario"
        );
        for part in legend.split("{{").skip(1) {
            let label = part.split("}}").next().unwrap().trim();
            assert!(
                exported.has_label(label),
                "{place}: legend {{{{{label}}}}} is no label"
            );
        }
    }
    for (place, selector, label) in &queries.variables {
        check(place, selector);
        assert!(
            exported.has_label(label),
            "{place}: label {label} is not exported"
        );
    }

    // Panels use the data source variable, have unique ids and do not overlap.
    let mut ids = BTreeSet::new();
    let mut boxes: Vec<(String, [u64; 4])> = Vec::new();
    for panel in all_panels(&dashboard["panels"]) {
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "panel id {} twice",
            panel["id"]
        );
        let title = panel["title"].as_str().unwrap().to_string();
        let grid = &panel["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| grid[k].as_u64().unwrap());
        assert!(x + w <= 24, "{title}: wider than the 24 grid columns");
        for (other, [ox, oy, ow, oh]) in &boxes {
            let overlap = x < ox + ow && ox < &(x + w) && y < oy + oh && oy < &(y + h);
            assert!(!overlap, "panels {title:?} and {other:?} overlap");
        }
        boxes.push((title.clone(), [x, y, w, h]));
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}: no query");
        for target in targets {
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{title}");
        }
    }
}

/// Every family `/metrics` exports is on the dashboard: a new metric in
/// engine/src/web/metrics.rs needs a panel (or a query in one) here.
#[test]
fn grafana_dashboard_shows_every_exported_family() {
    let exported = Exported::read();
    let queries = dashboard_queries(&dashboard());
    let series: BTreeSet<String> = queries
        .targets
        .iter()
        .flat_map(|(_, expr, _)| promql_names(expr).0)
        .collect();
    let shown: BTreeSet<&str> = series
        .iter()
        .filter_map(|s| exported.family_of(s))
        .collect();
    let missing: Vec<&String> = exported
        .families
        .keys()
        .filter(|family| !shown.contains(family.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{METRICS_SOURCE} exports {missing:?}, which no panel of {DASHBOARD} shows: add a panel \
         (or a query to one)"
    );
}

/// Every dashboard query (and variable selector) parses as PromQL: promtool
/// checks them as recording rules, Grafana's variables filled in.
#[test]
fn grafana_dashboard_queries_parse_as_promql() {
    let Some(promtool) = prometheus_tool("promtool") else {
        return;
    };
    let queries = dashboard_queries(&dashboard());
    let mut rules = Vec::new();
    let all = queries
        .targets
        .iter()
        .map(|(place, expr, _)| (place, expr))
        .chain(
            queries
                .variables
                .iter()
                .map(|(place, selector, _)| (place, selector)),
        );
    for (index, (place, expr)) in all.enumerate() {
        let substituted = substitute_grafana_variables(expr);
        assert!(!substituted.contains('$'), "{place}: {substituted}");
        rules.push(serde_json::json!({
            "record": format!("stampede_dashboard:query_{index}"),
            "expr": substituted,
        }));
    }
    let count = rules.len();
    // YAML is a superset of JSON: no quoting of the expressions by hand.
    let file = stampede_tests::temp_file(
        "dashboard-rules.yml",
        &serde_json::json!({"groups": [{"name": "dashboard", "rules": rules}]}).to_string(),
    );
    let output = Command::new(&promtool)
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "promtool check rules:\n{text}");
    assert!(text.contains(&format!("{count} rules found")), "{text}");
}

/// `prometheus --help` parses, proving every flag in the args exists.
fn assert_prometheus_flags_exist(args: &[String]) {
    let Some(prometheus) = prometheus_tool("prometheus") else {
        return;
    };
    let help = Command::new(prometheus).arg("--help").output().unwrap();
    let help =
        String::from_utf8_lossy(&help.stdout).into_owned() + &String::from_utf8_lossy(&help.stderr);
    for arg in args {
        let flag = arg.split('=').next().unwrap();
        assert!(
            flag.starts_with("--"),
            "prometheus argument {arg} is not a flag"
        );
        assert!(help.contains(flag), "prometheus has no {flag}");
    }
}

/// `STAMPEDE_<KEY>` variables set flags; each one must name a flag of the
/// subcommand (`STAMPEDE_WEB_AUTH` is `--web-auth`).
fn assert_env_flags_exist(subcommand: &str, names: &[String]) {
    let help = Command::new(bin("stampede"))
        .args([subcommand, "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for name in names {
        let Some(key) = name.strip_prefix("STAMPEDE_") else {
            continue;
        };
        let flag = format!("--{}", key.to_ascii_lowercase().replace('_', "-"));
        assert!(
            help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
            "{name}: `stampede {subcommand}` has no {flag}"
        );
    }
}

/// A compose service's `environment` map.
fn compose_env(service: &Value) -> BTreeMap<String, String> {
    service["environment"]
        .as_mapping()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_string(),
                v.as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The compose coordinator's STAMPEDE_WEB_AUTH, as written (`${..}` and all).
fn compose_web_auth(coordinator: &Value) -> String {
    compose_env(coordinator).remove("STAMPEDE_WEB_AUTH").expect(
        "the coordinator's /metrics is off loopback: it needs STAMPEDE_WEB_AUTH (--web-auth)",
    )
}

/// `${NAME:-default}` as compose fills it in with NAME unset.
fn compose_defaults(text: &str) -> String {
    let mut out = text.to_string();
    while let Some(start) = out.find("${") {
        let end = start + out[start..].find('}').expect("closed ${");
        let inner = &out[start + 2..end];
        let default = inner.split_once(":-").map_or("", |(_, d)| d).to_string();
        out.replace_range(start..=end, &default);
    }
    out
}

/// A bind mount (`./host:/container[:ro]`): the host path in the repository and the container path.
fn bind_mounts(service: &Value) -> Vec<(String, String)> {
    strings(&service["volumes"])
        .iter()
        .filter_map(|v| {
            let mut parts = v.split(':');
            let host = parts.next()?.strip_prefix("./")?.to_string();
            Some((host, parts.next()?.to_string()))
        })
        .collect()
}

/// The port of an `ADDR:PORT` flag value in args (`--metrics=0.0.0.0:9646`).
fn flag_port(args: &[String], flag: &str) -> u16 {
    args.iter()
        .find_map(|a| a.strip_prefix(&format!("{flag}=")))
        .unwrap_or_else(|| panic!("no {flag}= in {args:?}"))
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// `docker compose --profile metrics up` adds Prometheus and Grafana; plain
/// `docker compose up` starts the same three services as before. The
/// coordinator's /metrics is off loopback, so it has --web-auth from
/// STAMPEDE_WEB_AUTH, and every STAMPEDE_ variable names a flag.
#[test]
fn compose_metrics_profile_adds_prometheus_and_grafana() {
    let compose = &yaml_docs("docker-compose.yml")[0];
    let services = compose["services"].as_mapping().unwrap();
    for (name, service) in services {
        let name = name.as_str().unwrap();
        let profiles = strings(&service["profiles"]);
        match name {
            "target" | "coordinator" | "worker" => {
                assert!(profiles.is_empty(), "{name} must start without a profile")
            }
            "prometheus" | "grafana" => assert_eq!(profiles, ["metrics"], "{name}"),
            other => panic!("unexpected compose service {other}"),
        }
    }
    let coordinator = &compose["services"]["coordinator"];
    let args = strings(&coordinator["command"]);
    let port = flag_port(&args, "--metrics");
    assert!(
        args.contains(&format!("--metrics=0.0.0.0:{port}")),
        "{args:?}"
    );
    let auth = compose_defaults(&compose_web_auth(coordinator));
    let (user, password) = auth
        .split_once(':')
        .expect("STAMPEDE_WEB_AUTH is USER:PASSWORD");
    assert!(!user.is_empty() && !password.is_empty(), "{auth}");
    for service in ["coordinator", "worker"] {
        let command = strings(&compose["services"][service]["command"]);
        let names: Vec<String> = compose_env(&compose["services"][service])
            .into_keys()
            .collect();
        assert_env_flags_exist(&command[0], &names);
    }

    let prometheus = &compose["services"]["prometheus"];
    assert!(prometheus["image"]
        .as_str()
        .unwrap()
        .starts_with("prom/prometheus:"));
    let command = strings(&prometheus["command"]);
    assert_prometheus_flags_exist(&command);
    assert!(command.contains(&"--web.enable-remote-write-receiver".to_string()));
    let config_path = command
        .iter()
        .find_map(|a| a.strip_prefix("--config.file="))
        .expect("--config.file");
    assert!(
        bind_mounts(prometheus).contains(&(PROMETHEUS_CONFIG.into(), config_path.into())),
        "{PROMETHEUS_CONFIG} is mounted at {config_path}"
    );

    let grafana = &compose["services"]["grafana"];
    assert!(grafana["image"]
        .as_str()
        .unwrap()
        .starts_with("grafana/grafana:"));
    let mounts = bind_mounts(grafana);
    for (provisioning, target) in [
        (GRAFANA_DATASOURCES, "/etc/grafana/provisioning/datasources"),
        (GRAFANA_DASHBOARDS, "/etc/grafana/provisioning/dashboards"),
    ] {
        let dir = Path::new(provisioning).parent().unwrap().to_str().unwrap();
        assert!(
            mounts.contains(&(dir.into(), target.into())),
            "{dir} on {target}: {mounts:?}"
        );
    }
    let home = &compose_env(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"];
    assert!(
        mounts.contains(&(DASHBOARD.into(), home.clone())),
        "{mounts:?}"
    );

    for service in [prometheus, grafana] {
        for (host, _) in bind_mounts(service) {
            assert!(repo_file(&host).exists(), "{host} is not in the repository");
        }
        // Remote write and anonymous viewing stay on the host's loopback.
        for port in strings(&service["ports"]) {
            assert!(
                port.starts_with("127.0.0.1:"),
                "{port} is published beyond loopback"
            );
        }
    }
}

/// Prometheus scrapes the compose coordinator's /metrics every second with
/// the coordinator's credentials: user in the config, password in the file
/// compose writes from the same variable.
#[test]
fn prometheus_scrapes_the_compose_coordinator_with_its_credentials() {
    let Some(promtool) = prometheus_tool("promtool") else {
        return;
    };
    let check = Command::new(&promtool)
        .args(["check", "config"])
        .arg(repo_file(PROMETHEUS_CONFIG))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "promtool check config: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let config = &yaml_docs(PROMETHEUS_CONFIG)[0];
    let jobs = config["scrape_configs"].as_sequence().unwrap();
    let job = jobs
        .iter()
        .find(|j| j["job_name"] == "stampede")
        .expect("a stampede job");
    assert_eq!(job["scrape_interval"], "1s");
    assert!(job["metrics_path"].is_null() || job["metrics_path"] == "/metrics");

    let compose = &yaml_docs("docker-compose.yml")[0];
    let coordinator = &compose["services"]["coordinator"];
    let port = flag_port(&strings(&coordinator["command"]), "--metrics");
    let targets = strings(&job["static_configs"][0]["targets"]);
    assert_eq!(targets, [format!("coordinator:{port}")]);

    let auth = compose_web_auth(coordinator);
    let (user, password) = auth.split_once(':').unwrap();
    assert_eq!(job["basic_auth"]["username"].as_str(), Some(user));
    let password_file = job["basic_auth"]["password_file"]
        .as_str()
        .expect("password_file");
    let prometheus = &compose["services"]["prometheus"];
    let config_mount = prometheus["configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|c| c["target"] == password_file)
        .unwrap_or_else(|| panic!("nothing is mounted at {password_file}"));
    let source = config_mount["source"].as_str().unwrap();
    assert_eq!(
        compose["configs"][source]["content"].as_str(),
        Some(password),
        "the password file holds the password of STAMPEDE_WEB_AUTH"
    );
}

/// Grafana's provisioning: the data source is the compose Prometheus, and
/// the dashboard provider reads the directory the dashboard is mounted in.
#[test]
fn grafana_provisioning_loads_the_dashboard_from_prometheus() {
    let compose = &yaml_docs("docker-compose.yml")[0];
    let datasources = &yaml_docs(GRAFANA_DATASOURCES)[0]["datasources"];
    let datasource = &datasources[0];
    assert_eq!(datasource["type"], "prometheus");
    assert_eq!(datasource["isDefault"], true);
    let url = datasource["url"].as_str().unwrap();
    let host = url
        .strip_prefix("http://")
        .unwrap()
        .split(':')
        .next()
        .unwrap();
    assert!(
        compose["services"][host]["image"]
            .as_str()
            .unwrap()
            .starts_with("prom/prometheus:"),
        "{url} is not the compose Prometheus"
    );
    // $__rate_interval follows the 1 s scrape.
    assert_eq!(datasource["jsonData"]["timeInterval"], "1s");

    let providers = &yaml_docs(GRAFANA_DASHBOARDS)[0]["providers"];
    let path = providers[0]["options"]["path"].as_str().unwrap();
    assert_eq!(providers[0]["type"], "file");
    let mounted = bind_mounts(&compose["services"]["grafana"])
        .into_iter()
        .find(|(host, _)| host == DASHBOARD)
        .expect("the dashboard is mounted")
        .1;
    assert_eq!(Path::new(&mounted).parent().unwrap(), Path::new(path));
}

/// Kubernetes: the coordinator's pod says where Prometheus scrapes it, its
/// Service exposes the metrics port, and --web-auth comes from a Secret
/// whose keys exist.
#[test]
fn kubernetes_coordinator_exposes_metrics() {
    let coordinator = yaml_docs("deploy/k8s/coordinator.yaml");
    let config = yaml_docs("deploy/k8s/configmap.yaml");
    let service = coordinator.iter().find(|d| d["kind"] == "Service").unwrap();
    let job = coordinator.iter().find(|d| d["kind"] == "Job").unwrap();
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    let args = strings(&container["args"]);
    let port = flag_port(&args, "--metrics");
    assert!(
        args.contains(&format!("--metrics=0.0.0.0:{port}")),
        "{args:?}"
    );

    let annotations = &job["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(
        annotations["prometheus.io/port"].as_str(),
        Some(port.to_string().as_str())
    );
    assert_eq!(annotations["prometheus.io/path"], "/metrics");
    let ports = service["spec"]["ports"].as_sequence().unwrap();
    assert!(
        ports.iter().any(|p| p["port"].as_u64() == Some(port.into())
            && p["targetPort"].as_u64() == Some(port.into())),
        "the Service exposes {port}"
    );
    let container_ports = container["ports"].as_sequence().unwrap();
    assert!(container_ports
        .iter()
        .any(|p| p["containerPort"].as_u64() == Some(port.into())));

    // STAMPEDE_WEB_AUTH is built from variables defined before it, each from a Secret key that exists.
    let env = container["env"].as_sequence().unwrap();
    let names: Vec<String> = env
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    assert_env_flags_exist("coordinator", &names);
    let auth_at = names
        .iter()
        .position(|n| n == "STAMPEDE_WEB_AUTH")
        .expect("STAMPEDE_WEB_AUTH");
    let auth = env[auth_at]["value"].as_str().unwrap();
    let (user, password) = auth.split_once(':').expect("USER:PASSWORD");
    for part in [user, password] {
        let variable = part
            .strip_prefix("$(")
            .and_then(|p| p.strip_suffix(')'))
            .unwrap_or_else(|| panic!("{auth}: {part} is not a $(VARIABLE)"));
        let at = names
            .iter()
            .position(|n| n == variable)
            .unwrap_or_else(|| panic!("{variable} is not in the coordinator's env"));
        assert!(
            at < auth_at,
            "{variable} must be defined before STAMPEDE_WEB_AUTH"
        );
        let key_ref = &env[at]["valueFrom"]["secretKeyRef"];
        let secret = config
            .iter()
            .find(|d| d["kind"] == "Secret" && d["metadata"]["name"] == key_ref["name"])
            .unwrap_or_else(|| panic!("no Secret {:?}", key_ref["name"]));
        let key = key_ref["key"].as_str().unwrap();
        assert!(
            secret["stringData"][key]
                .as_str()
                .is_some_and(|v| !v.is_empty()),
            "Secret {:?} has no {key}",
            key_ref["name"]
        );
    }
    let worker = &yaml_docs("deploy/k8s/workers.yaml")[0];
    let worker_env = worker["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect::<Vec<_>>();
    assert_env_flags_exist("worker", &worker_env);
}
