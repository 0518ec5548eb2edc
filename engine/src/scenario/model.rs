//! The scenario file as written: serde types for the TOML format, with spans
//! kept on every value whose errors we report. Nothing here is validated
//! beyond types; `compile` turns it into a `Plan`.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A whole scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Default target URL.
    pub host: Option<Spanned<String>>,
    /// Users (closed loop).
    pub users: Option<Spanned<u32>>,
    /// Users started per second.
    pub spawn_rate: Option<Spanned<f64>>,
    /// Run time, e.g. `30s`.
    pub run_time: Option<Spanned<String>>,
    /// Open-loop rate.
    pub rate: Option<Spanned<f64>>,
    /// Load shape, k6-style: `[[stages]]` tables of `duration` and `target`.
    #[serde(default)]
    pub stages: Vec<Spanned<StageSpec>>,
    /// What `[[stages]]` shape: `users` (closed loop, the default) or `rate` (open loop).
    pub mode: Option<Spanned<String>>,
    /// Constants usable as `${name}`.
    #[serde(default)]
    pub vars: BTreeMap<String, Spanned<String>>,
    /// CSV feeders by name.
    #[serde(default)]
    pub feeders: BTreeMap<String, FeederSpec>,
    /// Steps run once before users start.
    #[serde(default)]
    pub setup: Vec<Spanned<StepSpec>>,
    /// User classes.
    #[serde(default)]
    pub user: Vec<Spanned<UserSpec>>,
    /// Pass/fail thresholds: `expression` or `"METHOD name" = expression(s)`.
    #[serde(default)]
    pub thresholds: BTreeMap<String, Spanned<toml::Value>>,
}

/// One `[[stages]]` entry: reach `target` users (or req/s) over `duration`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    /// How long the stage lasts, e.g. `30s`.
    pub duration: String,
    /// Users or arrivals per second at the stage's end.
    pub target: f64,
}

/// A feeder definition.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeederSpec {
    /// CSV file, relative to the scenario file.
    pub file: Spanned<String>,
    /// `unique`, `cycle` or `random`.
    pub mode: Option<Spanned<String>>,
    /// `on_start` or `per_iteration`.
    pub pick: Option<Spanned<String>>,
    /// `continue` or `stop`, for unique feeders that run out.
    pub exhausted: Option<Spanned<String>>,
}

/// A user class.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// Name in reports.
    pub name: Option<String>,
    /// Share of users (default 1).
    pub weight: Option<Spanned<u32>>,
    /// A fixed number of users instead of a weight.
    pub count: Option<Spanned<u32>>,
    /// Target URL for this class.
    pub host: Option<Spanned<String>>,
    /// Wait between iterations.
    pub wait: Option<Spanned<String>>,
    /// Feeder whose rows this class's users take.
    pub feeder: Option<Spanned<String>>,
    /// Run tasks in order instead of by weight.
    #[serde(default)]
    pub sequential: bool,
    /// Keep and send cookies (default true).
    pub cookies: Option<bool>,
    /// Credentials sent with every request of the class (a step's own win).
    pub auth: Option<Spanned<AuthSpec>>,
    /// Ask for compressed responses (`Accept-Encoding`) on every request.
    pub compressed: Option<bool>,
    /// Steps run once when a user starts.
    #[serde(default)]
    pub on_start: Vec<Spanned<StepSpec>>,
    /// Steps run once when a user stops.
    #[serde(default)]
    pub on_stop: Vec<Spanned<StepSpec>>,
    /// Tasks picked by weight each iteration.
    #[serde(default)]
    pub task: Vec<Spanned<TaskSpec>>,
}

/// A task: steps run in order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Name (for messages).
    pub name: Option<String>,
    /// Share of iterations (default 1).
    pub weight: Option<Spanned<u32>>,
    /// Tags that `--tags` and `--exclude-tags` select the task by (Locust's `@tag`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// The steps.
    #[serde(default)]
    pub step: Vec<Spanned<StepSpec>>,
}

/// A request, or a pause.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Pause this long instead of sending a request, e.g. `500ms`.
    pub sleep: Option<Spanned<String>>,
    /// HTTP method (default GET).
    pub method: Option<Spanned<String>>,
    /// Path and query (templated; values are percent-encoded).
    pub path: Option<Spanned<String>>,
    /// Query parameters appended to the path, form-encoded (values templated).
    #[serde(default)]
    pub query: BTreeMap<String, Spanned<String>>,
    /// Send the path's values as they are, for paths encoded by hand.
    #[serde(default)]
    pub raw_path: bool,
    /// Credentials for this request.
    pub auth: Option<Spanned<AuthSpec>>,
    /// Ask for a compressed response (`Accept-Encoding`).
    pub compressed: Option<bool>,
    /// Follow redirects (default true, up to the run's `--max-redirects`).
    pub follow_redirects: Option<bool>,
    /// Target URL for this step.
    pub host: Option<Spanned<String>>,
    /// Name in stats, grouping dynamic paths (e.g. `/api/playlist/[id]`).
    pub name: Option<String>,
    /// Request headers (values templated).
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<String>>,
    /// Raw body (templated).
    pub body: Option<Spanned<String>>,
    /// JSON body (string values templated).
    pub json: Option<Spanned<toml::Value>>,
    /// A body of this many bytes (templated, e.g. `"${size}"` or `"4KiB"`)
    /// sliced from the shared random block instead of `body`.
    pub body_size: Option<Spanned<String>>,
    /// Run the step only when each variable holds this value (else skip it).
    #[serde(default)]
    pub when: BTreeMap<String, Spanned<String>>,
    /// Form body, `application/x-www-form-urlencoded` (values templated).
    #[serde(default)]
    pub form: BTreeMap<String, Spanned<String>>,
    /// Request timeout for this step.
    pub timeout: Option<Spanned<String>>,
    /// Conditions on the response.
    pub check: Option<Spanned<CheckSpec>>,
    /// Variables taken from the response: `json:/ptr`, `header:name`, `regex:...`, `cookie:name`.
    #[serde(default)]
    pub extract: BTreeMap<String, Spanned<String>>,
}

/// Credentials: `basic = ["user", "password"]` or `bearer = "token"` (templated).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSpec {
    /// HTTP basic auth: user and password.
    pub basic: Option<Spanned<Vec<String>>>,
    /// A bearer token.
    pub bearer: Option<Spanned<String>>,
}

/// Checks on a response.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// `200`, `[200, 201]` or `"2xx"`.
    pub status: Option<Spanned<toml::Value>>,
    /// Text the body must contain.
    pub body_contains: Option<Spanned<String>>,
    /// JSON pointer -> expected value.
    #[serde(default)]
    pub json: BTreeMap<String, toml::Value>,
    /// JSON pointers that must resolve.
    #[serde(default)]
    pub json_exists: Vec<String>,
    /// JSON pointer -> type (`array`, `object`, `string`, `number`, `bool`, `null`).
    #[serde(default)]
    pub json_type: BTreeMap<String, Spanned<String>>,
    /// Header name -> expected value.
    #[serde(default)]
    pub header: BTreeMap<String, String>,
    /// The body has exactly this many bytes (templated, e.g. `"${size}"`).
    pub body_bytes: Option<Spanned<String>>,
    /// Slowest acceptable response, in milliseconds.
    pub max_ms: Option<Spanned<f64>>,
}
