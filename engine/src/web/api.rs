//! The routes: the page, our control API (`/api/*`) and Locust's web API
//! (`/swarm`, `/stop`, `/stats/*`). Each route reads the published state or
//! sends one command to the session or the running test, and answers at
//! once; errors are JSON with one message and a 4xx status.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::http::{Handler, Request, Response};
use super::metrics::{self, Format};
use super::view::{Download, TestState};
use super::{ApiCommand, Shared, StartRequest, PUBLISH_EVERY};
use crate::run::live::LoadChange;

/// The page, one self-contained document.
const PAGE: &str = include_str!("page.html");
/// How long a request waits for the session to start a test or render a download.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// Most users a start or load request may ask for.
const USERS_MAX: u64 = 10_000_000;

/// The routes over the shared state.
pub struct Api {
    shared: Arc<Shared>,
    /// Served on loopback without credentials: requests must name this
    /// machine in `Host`, so a web page whose name was re-pointed at
    /// 127.0.0.1 (DNS rebinding) cannot reach the API.
    loopback_only: bool,
    /// The page and the API; without it, only `/metrics` (`--metrics ADDR`).
    ui: bool,
}

impl Api {
    /// Routes over `shared`; `loopback_only` when served on loopback without
    /// auth; `ui` for the page and API besides `/metrics`.
    pub fn new(shared: Arc<Shared>, loopback_only: bool, ui: bool) -> Api {
        Api {
            shared,
            loopback_only,
            ui,
        }
    }

    /// `/metrics` in the format the scraper asks for.
    fn metrics(&self, request: &Request) -> Response {
        let format = Format::negotiate(request.header("accept"));
        let families = self.shared.published().families.clone();
        Response::text(
            200,
            format.content_type(),
            metrics::render(&families, format),
        )
    }
}

/// True when a `Host` header names this machine: `localhost`, a loopback
/// address, with or without a port (no header at all: an HTTP/1.0 client).
fn host_is_loopback(host: Option<&str>) -> bool {
    let Some(host) = host.map(str::trim) else {
        return true;
    };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Handler for Api {
    fn handle(&self, request: &Request) -> Response {
        if self.loopback_only && !host_is_loopback(request.header("host")) {
            let message =
                "this server answers only requests addressed to localhost, 127.0.0.1 or [::1]";
            return Response::error(403, message);
        }
        let route = (request.method.as_str(), request.path.as_str());
        match route {
            ("GET", "/metrics") => return self.metrics(request),
            (_, "/metrics") => return Response::error(405, "method not allowed on this route"),
            _ if !self.ui => return Response::error(404, "only /metrics is served here"),
            _ => {}
        }
        match route {
            ("GET", "/") => Response::html(200, PAGE),
            ("GET", "/api/state") => Response::json(200, &self.state()),
            ("GET", "/api/stats") => {
                let text = self.shared.published().stats_text.clone();
                Response::text(200, "application/json", text.as_bytes())
            }
            ("GET", "/api/stream") => self.stream(),
            ("GET", "/api/history") => self.download(Download::History, None),
            ("GET", "/api/report.html") => {
                self.download(Download::Html, saved(request, "report.html"))
            }
            ("GET", "/api/report.json") => {
                self.download(Download::Json, saved(request, "report.json"))
            }
            ("GET", "/api/stats.csv") => {
                self.download(Download::StatsCsv, saved(request, "stats.csv"))
            }
            ("GET", "/api/stats_history.csv") => {
                self.download(Download::HistoryCsv, saved(request, "stats_history.csv"))
            }
            ("GET", "/api/failures.csv") => {
                self.download(Download::FailuresCsv, saved(request, "failures.csv"))
            }
            ("POST", "/api/start") => match json_body(request) {
                Ok(body) => match start_request(&body) {
                    Ok(start) => self.start(start, false),
                    Err(message) => Response::error(400, &message),
                },
                Err(response) => response,
            },
            ("POST", "/api/stop") => match json_body(request) {
                Ok(_) => self.stop(false),
                Err(response) => response,
            },
            ("POST", "/api/load") => match json_body(request) {
                Ok(body) => self.load(&body),
                Err(response) => response,
            },
            ("POST", "/api/reset") => match json_body(request) {
                Ok(_) => self.reset(false),
                Err(response) => response,
            },
            // Locust's web API, its names and shapes.
            ("POST", "/swarm") => match swarm_request(request) {
                Ok(start) => self.start(start, true),
                Err(message) => locust_failure(400, &message),
            },
            ("POST", "/stop") => self.stop(true),
            ("POST", "/stats/reset") => self.reset(true),
            ("GET", "/stats/requests") => Response::json(200, &self.locust_stats()),
            ("GET", "/stats/requests/csv") => {
                self.download(Download::StatsCsv, saved(request, "requests.csv"))
            }
            ("GET", "/stats/failures/csv") => {
                self.download(Download::FailuresCsv, saved(request, "failures.csv"))
            }
            ("GET", "/stats/report") => {
                self.download(Download::Html, saved(request, "report.html"))
            }
            (_, path) if is_route(path) => Response::error(405, "method not allowed on this route"),
            _ => Response::error(404, "no such route"),
        }
    }
}

/// The file name to save a download under when the request asks for it with
/// `?download=1` (Locust's parameter); otherwise it is shown inline.
fn saved<'a>(request: &Request, name: &'a str) -> Option<&'a str> {
    let asked = request.query_param("download");
    asked
        .is_some_and(|v| !matches!(v.as_str(), "" | "0" | "false"))
        .then_some(name)
}

/// True for the paths above (for 405 versus 404).
fn is_route(path: &str) -> bool {
    const ROUTES: &[&str] = &[
        "/",
        "/api/state",
        "/api/stats",
        "/api/stream",
        "/api/history",
        "/api/report.html",
        "/api/report.json",
        "/api/stats.csv",
        "/api/stats_history.csv",
        "/api/failures.csv",
        "/api/start",
        "/api/stop",
        "/api/load",
        "/api/reset",
        "/swarm",
        "/stop",
        "/stats/reset",
        "/stats/requests",
        "/stats/requests/csv",
        "/stats/failures/csv",
        "/stats/report",
    ];
    ROUTES.contains(&path)
}

impl Api {
    /// `/api/state`: the state, the test's settings and the load now.
    fn state(&self) -> Value {
        let published = self.shared.published();
        let mut state = published.settings.clone();
        if !state.is_object() {
            state = json!({});
        }
        state["state"] = published.state.as_str().into();
        state["mode"] = if self.shared.coordinator {
            "coordinator"
        } else {
            "local"
        }
        .into();
        state["elapsed_s"] = published.elapsed_s.into();
        state["stop_reason"] = published.stop_reason.into();
        state["workers"] = published.workers_joined.into();
        state
    }

    /// Locust's `/stats/requests`; before any test, an empty table in its shape.
    fn locust_stats(&self) -> Value {
        let published = self.shared.published();
        if published.locust.is_null() {
            return json!({
                "stats": [], "errors": [], "total_rps": 0.0, "total_fail_per_sec": 0.0,
                "current_rps": 0.0, "current_fail_per_sec": 0.0, "fail_ratio": 0.0,
                "current_response_time_percentiles": {
                    "response_time_percentile_0.5": null, "response_time_percentile_0.95": null
                },
                "state": published.state.locust_str(), "user_count": 0,
            });
        }
        published.locust.clone()
    }

    /// Starts a test, waiting for the session to accept it. Locust's
    /// `/swarm` on a running test changes its users, as in Locust.
    fn start(&self, start: StartRequest, locust: bool) -> Response {
        {
            let published = self.shared.published();
            let running = published.state == TestState::Running;
            if running && locust && published.settings["model"] != "open" {
                drop(published);
                return match start.users {
                    Some(users) => {
                        let change = LoadChange::Set {
                            users: Some(users as u32),
                            rate_per_s: None,
                        };
                        self.shared.send(ApiCommand::Load(change));
                        let message = "Swarming started";
                        Response::json(
                            200,
                            &json!({"success": true, "message": message, "host": self.host()}),
                        )
                    }
                    None => locust_failure(400, "user_count is required"),
                };
            }
            if matches!(published.state, TestState::Running | TestState::Stopping) {
                return conflict("a test is already running; stop it first", locust);
            }
        }
        let (reply, answer) = flume::bounded(1);
        if !self.shared.send(ApiCommand::Start(start, reply)) {
            return Response::error(503, "the run side is gone");
        }
        match answer.recv_timeout(ANSWER_TIMEOUT) {
            Ok(Ok(())) if locust => Response::json(
                200,
                &json!({"success": true, "message": "Swarming started", "host": self.host()}),
            ),
            Ok(Ok(())) => Response::json(202, &self.state()),
            Ok(Err(message)) if locust => locust_failure(400, &message),
            Ok(Err(message)) => {
                let status = if message.contains("already running") {
                    409
                } else {
                    400
                };
                Response::error(status, &message)
            }
            Err(_) => Response::error(503, "the test did not start in time"),
        }
    }

    /// The host of the test now, for Locust's swarm answer.
    fn host(&self) -> Value {
        self.shared.published().settings["host"].clone()
    }

    /// Stops the running test.
    fn stop(&self, locust: bool) -> Response {
        let mut published = self.shared.published();
        if published.state != TestState::Running {
            if locust {
                // Locust answers a stop with success whatever the state.
                return Response::json(200, &json!({"success": true, "message": "Test stopped"}));
            }
            return conflict("no test is running", locust);
        }
        published.state = TestState::Stopping;
        drop(published);
        self.shared.send(ApiCommand::Stop);
        if locust {
            return Response::json(200, &json!({"success": true, "message": "Test stopped"}));
        }
        Response::json(200, &self.state())
    }

    /// Changes the running test's users or rate.
    fn load(&self, body: &Value) -> Response {
        let published = self.shared.published();
        if published.state != TestState::Running {
            return Response::error(409, "no test is running");
        }
        let open_loop = published.settings["model"] == "open";
        drop(published);
        let change = match (open_loop, body.get("users"), body.get("rate")) {
            (false, Some(users), None) => match users.as_u64().filter(|&u| u <= USERS_MAX) {
                Some(users) => LoadChange::Set {
                    users: Some(users as u32),
                    rate_per_s: None,
                },
                None => {
                    return Response::error(400, "'users' must be a whole number up to 10000000")
                }
            },
            (true, None, Some(rate)) => match rate.as_f64().filter(|r| r.is_finite() && *r > 0.0) {
                Some(rate) => LoadChange::Set {
                    users: None,
                    rate_per_s: Some(rate),
                },
                None => return Response::error(400, "'rate' must be a positive number"),
            },
            (false, _, _) => {
                return Response::error(400, "this test is closed loop: give {\"users\": N}")
            }
            (true, _, _) => {
                return Response::error(400, "this test is open loop: give {\"rate\": R}")
            }
        };
        self.shared.send(ApiCommand::Load(change));
        Response::json(200, &self.state())
    }

    /// Back to idle with the last results dropped.
    fn reset(&self, locust: bool) -> Response {
        let published = self.shared.published();
        if matches!(published.state, TestState::Running | TestState::Stopping) {
            let message = "a test is running: stop it before a new test (stampede keeps whole-run histograms)";
            return conflict(message, locust);
        }
        drop(published);
        self.shared.send(ApiCommand::Reset);
        if locust {
            return Response::text(200, "text/plain; charset=utf-8", "ok");
        }
        Response::json(200, &json!({"state": "idle"}))
    }

    /// A download of the running test (rendered by the run loop) or the finished one.
    fn download(&self, download: Download, filename: Option<&str>) -> Response {
        let published = self.shared.published();
        let rendered = match (&published.finished, published.state) {
            (Some(finished), TestState::Finished) => {
                let finished = finished.clone();
                drop(published);
                finished.render(download)
            }
            (_, TestState::Running | TestState::Stopping) => {
                drop(published);
                let (reply, answer) = flume::bounded(1);
                self.shared.send(ApiCommand::Render(download, reply));
                match answer.recv_timeout(ANSWER_TIMEOUT) {
                    Ok(Some(rendered)) => rendered,
                    Ok(None) => return Response::error(404, "no test has run yet"),
                    Err(_) => return Response::error(503, "the test ended; try again"),
                }
            }
            _ if download == Download::History => (b"{\"points\":[]}".to_vec(), "application/json"),
            _ => return Response::error(404, "no test has run yet"),
        };
        let (bytes, content_type) = rendered;
        let response = Response::text(200, content_type, bytes);
        match filename {
            Some(name) => response.attachment(&format!("stampede_{name}")),
            None => response,
        }
    }

    /// `/api/stream`: the stats once a second as Server-Sent Events, until
    /// the client goes away or the server closes.
    fn stream(&self) -> Response {
        let shared = self.shared.clone();
        Response::sse(move |out: &mut dyn Write| {
            let mut sent = u64::MAX;
            loop {
                if shared.closing.load(Ordering::Relaxed) {
                    return Ok(());
                }
                // Woken by each publish (once a second while a test runs).
                let event = {
                    let published = shared.wait_change(sent, PUBLISH_EVERY);
                    (published.generation != sent).then(|| {
                        sent = published.generation;
                        published.stats_text.clone()
                    })
                };
                // A quiet stream still gets a comment a second, so a gone client is noticed.
                // One write per event, so a reader never sees half of one.
                match event {
                    Some(stats) => out.write_all(format!("data: {stats}\n\n").as_bytes())?,
                    None => out.write_all(b": idle\n\n")?,
                }
                out.flush()?;
            }
        })
    }
}

/// 409 in our shape or Locust's.
fn conflict(message: &str, locust: bool) -> Response {
    if locust {
        locust_failure(409, message)
    } else {
        Response::error(409, message)
    }
}

/// Locust's failure answer: `{"success": false, "message": ...}`.
fn locust_failure(status: u16, message: &str) -> Response {
    Response::json(status, &json!({"success": false, "message": message}))
}

/// The JSON body of a state-changing `/api` request: only JSON is accepted,
/// so a cross-site form cannot send one without a CORS preflight.
fn json_body(request: &Request) -> Result<Value, Response> {
    let content_type = request.header("content-type").unwrap_or("");
    if !content_type.trim_start().starts_with("application/json") {
        return Err(Response::error(415, "send the body as application/json"));
    }
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match request.json() {
        Ok(value) if value.is_object() => Ok(value),
        Ok(_) => Err(Response::error(400, "the body must be a JSON object")),
        Err(e) => Err(Response::error(400, &e)),
    }
}

/// `/api/start`'s body; unknown fields are refused so a typo is not ignored.
pub fn start_request(body: &Value) -> Result<StartRequest, String> {
    const FIELDS: &[&str] = &[
        "host",
        "users",
        "spawn_rate",
        "rate",
        "run_time",
        "iterations",
        "classes",
    ];
    let object = body.as_object().ok_or("the body must be a JSON object")?;
    if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!(
            "unknown field '{unknown}' (fields: {})",
            FIELDS.join(", ")
        ));
    }
    let number = |field: &str| -> Result<Option<f64>, String> {
        match object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|n| n.is_finite() && *n >= 0.0)
                .map(Some)
                .ok_or(format!("'{field}' must be a non-negative number")),
        }
    };
    let whole = |field: &str| -> Result<Option<u64>, String> {
        match object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or(format!("'{field}' must be a whole number")),
        }
    };
    let run_time = match object.get("run_time") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.trim().is_empty() => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(Value::Number(n)) => Some(format!("{n}s")),
        Some(_) => return Err("'run_time' must be text like \"30s\" or seconds".into()),
    };
    let host = match object.get("host") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.trim().is_empty() => None,
        Some(Value::String(text)) => Some(text.trim().to_string()),
        Some(_) => return Err("'host' must be a URL".into()),
    };
    let classes = match object.get("classes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(name, weight)| match weight.as_u64() {
                Some(w) if w <= u64::from(u32::MAX) => Ok((name.clone(), w as u32)),
                _ => Err(format!("class '{name}': the weight must be a whole number")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("'classes' must be an object of {\"Class\": weight}".into()),
    };
    let users = whole("users")?;
    if users.is_some_and(|u| u == 0 || u > USERS_MAX) {
        return Err("'users' must be from 1 to 10000000".into());
    }
    Ok(StartRequest {
        host,
        users,
        spawn_rate: number("spawn_rate")?,
        rate: number("rate")?,
        run_time,
        iterations: whole("iterations")?,
        classes,
    })
}

/// Locust's `/swarm` form: `user_count`, `spawn_rate`, `host`, `run_time`.
fn swarm_request(request: &Request) -> Result<StartRequest, String> {
    let form = request.form();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let mut body = serde_json::Map::new();
    if let Some(users) = field("user_count") {
        let users: u64 = users
            .parse()
            .map_err(|_| format!("user_count: '{users}' is not a whole number"))?;
        body.insert("users".into(), users.into());
    }
    if let Some(rate) = field("spawn_rate") {
        let rate: f64 = rate
            .parse()
            .map_err(|_| format!("spawn_rate: '{rate}' is not a number"))?;
        body.insert("spawn_rate".into(), rate.into());
    }
    if let Some(host) = field("host") {
        body.insert("host".into(), host.into());
    }
    if let Some(run_time) = field("run_time") {
        body.insert("run_time".into(), run_time.into());
    }
    start_request(&Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only names of this machine pass the Host check on a loopback server.
    #[test]
    fn host_check_takes_loopback_names_only() {
        for host in [
            "127.0.0.1:8089",
            "localhost:8089",
            "LOCALHOST",
            "[::1]:8089",
            "127.1.2.3",
        ] {
            assert!(host_is_loopback(Some(host)), "{host}");
        }
        for host in [
            "evil.example:8089",
            "10.0.0.1:8089",
            "[2001:db8::1]:80",
            "localhost.evil.example",
        ] {
            assert!(!host_is_loopback(Some(host)), "{host}");
        }
        assert!(host_is_loopback(None));
    }

    /// Start bodies: fields typed, typos and bad values refused with the field named.
    #[test]
    fn start_requests_are_checked() {
        let start = start_request(
            &json!({"users": 20, "spawn_rate": 5, "run_time": 30, "host": " http://h "}),
        )
        .unwrap();
        assert_eq!(start.users, Some(20));
        assert_eq!(start.spawn_rate, Some(5.0));
        assert_eq!(start.run_time.as_deref(), Some("30s"));
        assert_eq!(start.host.as_deref(), Some("http://h"));
        assert_eq!(start_request(&json!({})).unwrap(), StartRequest::default());
        let err = start_request(&json!({"user": 3})).unwrap_err();
        assert!(err.contains("unknown field 'user'"), "{err}");
        assert!(start_request(&json!({"users": 0})).is_err());
        assert!(start_request(&json!({"users": "many"})).is_err());
        assert!(start_request(&json!({"rate": -1})).is_err());
        let classes = start_request(&json!({"classes": {"A": 3, "B": 1}}))
            .unwrap()
            .classes;
        assert_eq!(classes, vec![("A".to_string(), 3), ("B".to_string(), 1)]);
    }
}
