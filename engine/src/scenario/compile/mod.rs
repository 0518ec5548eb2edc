//! Compiling a scenario file into a [`Plan`], with every error pointing at
//! its file, line, column and key.
//!
//! Two phases: [`ScenarioDoc::parse`] reads the TOML (so its run settings can
//! join the flags before the config is validated), then
//! [`ScenarioDoc::compile`] resolves hosts, variables, templates, checks,
//! extractors and feeders against the validated target.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::check::{Rule, Source};
use super::feeder::{self, Exhausted, Feeder, Mode, Pick};
use super::model::{AuthSpec, ScenarioFile, StepSpec, UserSpec};
use super::template::{Escape, Template};
use super::wait::Wait;
use super::{weighted_cycle, Plan, RequestStep, Step, Task, UserClass};
use crate::config::{parse_duration, TargetUrl};
use crate::http::request::USER_AGENT;

mod checks;
#[cfg(test)]
mod fuzz;
mod locate;
mod request;

pub use locate::ScenarioError;
use locate::{key_at, line_col, locate};

/// Most bytes of a response body kept for checks and extractors.
pub const BODY_CAPTURE_LIMIT: usize = 1024 * 1024;
/// Largest sum of weights (users or tasks) a scenario may use.
const MAX_TOTAL_WEIGHT: u32 = 100_000;

/// A parsed scenario file, not yet compiled.
pub struct ScenarioDoc {
    path: PathBuf,
    source: String,
    file: ScenarioFile,
    /// Feeder rows given instead of reading the CSV files (a worker gets
    /// its partition from the coordinator): name -> (columns, rows).
    feeder_rows: Option<BTreeMap<String, FeederData>>,
}

/// A feeder's columns and rows.
pub type FeederData = (Vec<String>, Vec<Vec<String>>);

impl ScenarioDoc {
    /// Reads and parses a scenario file.
    pub fn parse(path: &Path) -> std::result::Result<ScenarioDoc, ScenarioError> {
        let source = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            key: "-".into(),
            message: format!("cannot read the scenario: {e}"),
        })?;
        Self::parse_str(path, source)
    }

    /// Parses scenario text as if read from `path`.
    pub fn parse_str(
        path: &Path,
        source: String,
    ) -> std::result::Result<ScenarioDoc, ScenarioError> {
        match toml::from_str::<ScenarioFile>(&source) {
            Ok(file) => Ok(ScenarioDoc {
                path: path.to_path_buf(),
                source,
                file,
                feeder_rows: None,
            }),
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let key = key_at(&source, &span, e.message());
                let message = e.message().trim().replace('\n', " ");
                Err(locate(path, &source, span, key, message))
            }
        }
    }

    /// Run settings the file sets, as (config key, value, line) for the settings layer.
    pub fn settings(&self) -> Vec<(&'static str, String, usize)> {
        let f = &self.file;
        let line = |span: Range<usize>| line_col(&self.source, span.start).0;
        let mut out = Vec::new();
        if let Some(v) = &f.host {
            out.push(("host", v.get_ref().clone(), line(v.span())));
        }
        if let Some(v) = &f.users {
            out.push(("users", v.get_ref().to_string(), line(v.span())));
        }
        if let Some(v) = &f.spawn_rate {
            out.push(("spawn-rate", v.get_ref().to_string(), line(v.span())));
        }
        if let Some(v) = &f.run_time {
            out.push(("run-time", v.get_ref().clone(), line(v.span())));
        }
        if let Some(v) = &f.rate {
            out.push(("rate", v.get_ref().to_string(), line(v.span())));
        }
        if let Some(first) = f.stages.first() {
            // `[[stages]]` become the text of --stages (or --rate-stages), validated there.
            let text: Vec<String> = f
                .stages
                .iter()
                .map(|s| format!("{}:{}", s.get_ref().duration, s.get_ref().target))
                .collect();
            let rate = f.mode.as_ref().is_some_and(|m| m.get_ref() == "rate");
            out.push((
                if rate { "rate-stages" } else { "stages" },
                text.join(","),
                line(first.span()),
            ));
        }
        out
    }

    /// The scenario's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The scenario's text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Uses these feeder rows instead of reading the feeders' CSV files.
    pub fn with_feeder_rows(mut self, rows: BTreeMap<String, FeederData>) -> Self {
        self.feeder_rows = Some(rows);
        self
    }

    /// Reads a feeder's data: from the given rows, or from its CSV file.
    fn feeder_data(&self, name: &str, file: &str) -> std::result::Result<FeederData, String> {
        match &self.feeder_rows {
            Some(rows) => rows
                .get(name)
                .cloned()
                .ok_or_else(|| format!("no rows were sent for feeder '{name}'")),
            None => feeder::load_csv(&self.path.parent().unwrap_or(Path::new(".")).join(file)),
        }
    }

    /// Compiles against the run's default target.
    pub fn compile(&self, target: &TargetUrl) -> std::result::Result<Plan, ScenarioError> {
        self.compile_with(target, RequestOptions::default())
    }

    /// Compiles against the run's default target with run-wide request options.
    pub fn compile_with(
        &self,
        target: &TargetUrl,
        options: RequestOptions,
    ) -> std::result::Result<Plan, ScenarioError> {
        let mut compiler = Compiler::new(self, target);
        compiler.options = options;
        compiler.run()
    }
}

/// Builds a plan, collecting origins, endpoints, messages and variable slots.
struct Compiler<'a> {
    doc: &'a ScenarioDoc,
    target: &'a TargetUrl,
    plan: Plan,
    /// Known variable names to slots.
    slots: BTreeMap<String, usize>,
    /// Origins by (addr, authority).
    origin_keys: Vec<(std::net::SocketAddr, String)>,
    /// Run-wide request options.
    options: RequestOptions,
}

type Result<T> = std::result::Result<T, ScenarioError>;

impl<'a> Compiler<'a> {
    fn new(doc: &'a ScenarioDoc, target: &'a TargetUrl) -> Self {
        let plan = Plan {
            origins: Vec::new(),
            endpoints: Vec::new(),
            messages: Vec::new(),
            var_names: Vec::new(),
            unset_messages: Vec::new(),
            unsafe_messages: Vec::new(),
            initial_vars: Vec::new(),
            setup: Vec::new(),
            classes: Vec::new(),
            fixed_counts: Vec::new(),
            class_cycle: Vec::new(),
            feeders: Vec::new(),
            thresholds: Vec::new(),
            user_base: 0,
            body_capture_limit: BODY_CAPTURE_LIMIT,
            max_redirects: crate::config::DEFAULT_MAX_REDIRECTS,
            http_debug: Default::default(),
            signing: None,
            body_block: Default::default(),
        };
        Compiler {
            doc,
            target,
            plan,
            slots: BTreeMap::new(),
            origin_keys: Vec::new(),
            options: RequestOptions::default(),
        }
    }

    fn err(
        &self,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ScenarioError {
        locate(
            &self.doc.path,
            &self.doc.source,
            span,
            key.into(),
            message.into(),
        )
    }

    fn run(mut self) -> Result<Plan> {
        let file = &self.doc.file;
        self.declare_variables()?;
        for (name, value) in &file.vars {
            let slot = self.slots[name.as_str()];
            self.plan.initial_vars[slot] = Some(value.get_ref().as_bytes().to_vec());
        }
        self.load_feeders()?;
        for (i, step) in file.setup.iter().enumerate() {
            // Setup keeps cookies as a user does (a login's session cookie
            // reaches the next setup step).
            let defaults = ClassDefaults {
                host: None,
                cookies: true,
                auth: None,
                compressed: self.options.compressed,
            };
            let compiled = self.step(step, &format!("setup[{i}]"), &defaults)?;
            self.plan.setup.push(compiled);
        }
        if file.user.is_empty() {
            return Err(self.err(0..0, "user", "the scenario defines no [[user]] class"));
        }
        let mut weights = Vec::new();
        for (i, user) in file.user.iter().enumerate() {
            let key = format!("user[{i}]");
            let selected = user
                .get_ref()
                .task
                .iter()
                .any(|t| self.options.selects(&t.get_ref().tags));
            if !selected && !user.get_ref().task.is_empty() {
                // Every task of the class is left out by --tags/--exclude-tags: no users of it.
                continue;
            }
            let class = self.user_class(user, &key)?;
            let index = self.plan.classes.len();
            match (&user.get_ref().count, &user.get_ref().weight) {
                (Some(_), Some(w)) => {
                    return Err(self.err(
                        w.span(),
                        format!("{key}.weight"),
                        "give a weight or a count, not both",
                    ))
                }
                (Some(count), None) => self.plan.fixed_counts.push((index, *count.get_ref())),
                (None, weight) => {
                    let weight = weight.as_ref().map_or(1, |w| *w.get_ref());
                    if weight == 0 {
                        let span = user
                            .get_ref()
                            .weight
                            .as_ref()
                            .map_or(user.span(), |w| w.span());
                        return Err(self.err(span, format!("{key}.weight"), "must be at least 1"));
                    }
                    weights.push((index, weight));
                }
            }
            self.plan.classes.push(class);
        }
        if self.plan.classes.is_empty() {
            return Err(self.err(
                0..0,
                "user",
                "--tags/--exclude-tags leave no task of any [[user]] class to run",
            ));
        }
        if weights.iter().map(|&(_, w)| u64::from(w)).sum::<u64>() > u64::from(MAX_TOTAL_WEIGHT) {
            return Err(self.err(
                0..0,
                "user",
                format!("user weights add up to more than {MAX_TOTAL_WEIGHT}"),
            ));
        }
        self.plan.class_cycle = weighted_cycle(&weights);
        self.thresholds()?;
        Ok(self.plan)
    }

    /// Gives a slot to every name a template may use: constants, feeder
    /// columns and extraction targets, so any order of use compiles.
    fn declare_variables(&mut self) -> Result<()> {
        let file = &self.doc.file;
        let mut names: Vec<String> = file.vars.keys().cloned().collect();
        for (name, spec) in &file.feeders {
            if let Ok((columns, _)) = self.doc.feeder_data(name, spec.file.get_ref()) {
                names.extend(columns);
            }
        }
        let mut steps: Vec<&Spanned<StepSpec>> = file.setup.iter().collect();
        for user in &file.user {
            let user = user.get_ref();
            steps.extend(user.on_start.iter().chain(&user.on_stop));
            steps.extend(user.task.iter().flat_map(|t| t.get_ref().step.iter()));
        }
        names.extend(
            steps
                .iter()
                .flat_map(|s| s.get_ref().extract.keys().cloned()),
        );
        for name in names {
            if !self.slots.contains_key(&name) {
                let slot = self.plan.var_names.len();
                let message = self.message(format!("variable '{name}' has no value yet"));
                self.slots.insert(name.clone(), slot);
                self.plan.unset_messages.push(message);
                let message = self.message(format!(
                    "variable '{name}' holds CR, LF or NUL (or a space in a raw path): \
                     not sent, it would split the request"
                ));
                self.plan.unsafe_messages.push(message);
                self.plan.var_names.push(name);
                self.plan.initial_vars.push(None);
            }
        }
        Ok(())
    }

    fn load_feeders(&mut self) -> Result<()> {
        for (name, spec) in &self.doc.file.feeders {
            let key = format!("feeders.{name}");
            let (columns, rows) = self
                .doc
                .feeder_data(name, spec.file.get_ref())
                .map_err(|m| self.err(spec.file.span(), format!("{key}.file"), m))?;
            let choice =
                |value: &Option<Spanned<String>>, field: &str, options: &[&str]| -> Result<usize> {
                    match value {
                        None => Ok(0),
                        Some(v) => options
                            .iter()
                            .position(|o| o == v.get_ref())
                            .ok_or_else(|| {
                                self.err(
                                    v.span(),
                                    format!("{key}.{field}"),
                                    format!("must be one of {}", options.join(", ")),
                                )
                            }),
                    }
                };
            let mode = [Mode::Unique, Mode::Cycle, Mode::Random]
                [choice(&spec.mode, "mode", &["unique", "cycle", "random"])?];
            let pick = [Pick::OnStart, Pick::PerIteration]
                [choice(&spec.pick, "pick", &["on_start", "per_iteration"])?];
            let exhausted = [Exhausted::Continue, Exhausted::Stop]
                [choice(&spec.exhausted, "exhausted", &["continue", "stop"])?];
            // A worker's rows come from its coordinator; a CSV file is
            // refused empty when read. A unique feeder may get none (fewer
            // rows than workers); a cycle or random one picks among them.
            if rows.is_empty() && mode != Mode::Unique {
                return Err(self.err(
                    spec.file.span(),
                    format!("{key}.file"),
                    format!(
                        "feeder '{name}' has no rows; a cycle or random feeder needs at least one"
                    ),
                ));
            }
            let slots = columns.iter().map(|c| self.slots[c.as_str()]).collect();
            self.plan.feeders.push(Feeder {
                name: name.clone(),
                columns,
                slots,
                rows,
                mode,
                pick,
                exhausted,
            });
        }
        Ok(())
    }

    fn user_class(&mut self, user: &Spanned<UserSpec>, key: &str) -> Result<UserClass> {
        let spec = user.get_ref();
        let wait = match &spec.wait {
            Some(w) => Wait::parse(w.get_ref())
                .map_err(|m| self.err(w.span(), format!("{key}.wait"), m))?,
            None => Wait::None,
        };
        let feeder = match &spec.feeder {
            Some(name) => Some(
                self.plan
                    .feeders
                    .iter()
                    .position(|f| &f.name == name.get_ref())
                    .ok_or_else(|| {
                        self.err(
                            name.span(),
                            format!("{key}.feeder"),
                            format!("no feeder named '{}'", name.get_ref()),
                        )
                    })?,
            ),
            None => None,
        };
        let cookies = spec.cookies.unwrap_or(true);
        let defaults = ClassDefaults {
            host: spec.host.as_ref(),
            cookies,
            auth: spec.auth.as_ref(),
            compressed: spec.compressed.unwrap_or(self.options.compressed),
        };
        let steps =
            |list: &[Spanned<StepSpec>], part: &str, this: &mut Self| -> Result<Vec<Step>> {
                list.iter()
                    .enumerate()
                    .map(|(i, s)| this.step(s, &format!("{key}.{part}[{i}]"), &defaults))
                    .collect()
            };
        let on_start = steps(&spec.on_start, "on_start", self)?;
        let on_stop = steps(&spec.on_stop, "on_stop", self)?;
        if spec.task.is_empty() {
            return Err(self.err(
                user.span(),
                key,
                "a user class needs at least one [[user.task]]",
            ));
        }
        let mut tasks = Vec::new();
        let mut task_weights = Vec::new();
        let mut total = 0u32;
        for (i, task) in spec.task.iter().enumerate() {
            let task_key = format!("{key}.task[{i}]");
            let t = task.get_ref();
            if self.options.filters() && !self.options.selects(&t.tags) {
                continue;
            }
            let weight = t.weight.as_ref().map_or(1, |w| *w.get_ref());
            if weight == 0 || total.saturating_add(weight) > MAX_TOTAL_WEIGHT {
                let span = t.weight.as_ref().map_or(task.span(), |w| w.span());
                return Err(self.err(
                    span,
                    format!("{task_key}.weight"),
                    format!("weights must be 1 or more, adding up to at most {MAX_TOTAL_WEIGHT}"),
                ));
            }
            if t.step.is_empty() {
                return Err(self.err(
                    task.span(),
                    task_key,
                    "a task needs at least one [[user.task.step]]",
                ));
            }
            total += weight;
            task_weights.push(total);
            let compiled = t
                .step
                .iter()
                .enumerate()
                .map(|(j, s)| self.step(s, &format!("{task_key}.step[{j}]"), &defaults))
                .collect::<Result<_>>()?;
            tasks.push(Task {
                name: t.name.clone().unwrap_or_else(|| format!("task {i}")),
                steps: compiled,
            });
        }
        let name = spec
            .name
            .clone()
            .unwrap_or_else(|| format!("user{}", key.trim_start_matches("user")));
        Ok(UserClass {
            name,
            wait,
            feeder,
            cookies,
            sequential: spec.sequential,
            on_start,
            on_stop,
            tasks,
            task_weights,
        })
    }

    fn step(
        &mut self,
        step: &Spanned<StepSpec>,
        key: &str,
        defaults: &ClassDefaults<'_>,
    ) -> Result<Step> {
        let spec = step.get_ref();
        if let Some(sleep) = &spec.sleep {
            if spec.path.is_some() || spec.method.is_some() {
                return Err(self.err(
                    sleep.span(),
                    format!("{key}.sleep"),
                    "a sleep step sends no request: drop method/path or the sleep",
                ));
            }
            let d = parse_duration(sleep.get_ref())
                .map_err(|m| self.err(sleep.span(), format!("{key}.sleep"), m))?;
            return Ok(Step::Sleep(d));
        }
        let path = spec.path.as_ref().ok_or_else(|| {
            self.err(
                step.span(),
                format!("{key}.path"),
                "a request step needs a path",
            )
        })?;
        let method = match &spec.method {
            Some(m)
                if !m.get_ref().is_empty()
                    && m.get_ref().bytes().all(|b| b.is_ascii_alphabetic()) =>
            {
                m.get_ref().to_ascii_uppercase()
            }
            Some(m) => {
                return Err(self.err(
                    m.span(),
                    format!("{key}.method"),
                    format!("invalid method '{}'", m.get_ref()),
                ))
            }
            None => "GET".to_string(),
        };
        let (origin, authority, base_path) =
            self.origin(spec.host.as_ref().or(defaults.host), key)?;
        let mut head = Template::literal(&format!("{method} {base_path}"));
        head.append(self.path(path, spec, &format!("{key}.path"))?);
        head.append(self.query(spec, path.get_ref().contains('?'), key)?);
        let given = |name: &str| spec.headers.keys().any(|k| k.eq_ignore_ascii_case(name));
        head.push_literal(" HTTP/1.1\r\n");
        if !given("host") {
            head.push_literal(&format!("Host: {authority}\r\n"));
        }
        if !given("user-agent") {
            head.push_literal(&format!("User-Agent: {USER_AGENT}\r\n"));
        }
        if let Some(auth) = spec.auth.as_ref().or(defaults.auth) {
            if given("authorization") {
                return Err(self.err(
                    auth.span(),
                    format!("{key}.auth"),
                    "give auth or an Authorization header, not both",
                ));
            }
            head.append(self.auth(auth, &format!("{key}.auth"))?);
        }
        let compressed = spec.compressed.unwrap_or(defaults.compressed);
        if compressed && !given("accept-encoding") {
            head.push_literal(&format!("Accept-Encoding: {ACCEPT_ENCODING}\r\n"));
        }
        for (name, value) in &spec.headers {
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !valid || value.get_ref().contains(['\r', '\n']) {
                return Err(self.err(
                    value.span(),
                    format!("{key}.headers.{name}"),
                    "invalid header",
                ));
            }
            if ["content-length", "transfer-encoding"]
                .iter()
                .any(|framing| name.eq_ignore_ascii_case(framing))
            {
                return Err(self.err(
                    value.span(),
                    format!("{key}.headers.{name}"),
                    "stampede frames the body itself (Content-Length from the body); drop this header",
                ));
            }
            head.push_literal(&format!("{name}: "));
            head.append(self.escaped(value, &format!("{key}.headers.{name}"), Escape::Header)?);
            head.push_literal("\r\n");
        }
        let (body, content_type) = self.body(spec, key)?;
        if let Some(content_type) = content_type {
            if !given("content-type") {
                head.push_literal(&format!("Content-Type: {content_type}\r\n"));
            }
        }
        let timeout = match &spec.timeout {
            Some(t) => Some(
                parse_duration(t.get_ref())
                    .map_err(|m| self.err(t.span(), format!("{key}.timeout"), m))?,
            ),
            None => None,
        };
        let name = spec.name.clone().unwrap_or_else(|| path.get_ref().clone());
        let endpoint = self.endpoint(&method, &name);
        let (checks, status_checked) = match &spec.check {
            Some(check) => self.checks(check, &format!("{key}.check"), &method, &name)?,
            None => (Vec::new(), false),
        };
        let extracts = self.extracts(spec, key)?;
        let endpoint_name = format!("{method} {name}");
        let body_size = self.body_size(spec, key, &endpoint_name)?;
        let expect_body_bytes = self.expect_body_bytes(spec, key, &endpoint_name)?;
        let when = self.when(spec, key)?;
        let header_rules = checks.iter().any(|c| matches!(c.rule, Rule::Header(..)));
        let body_rules = checks.iter().any(|c| {
            matches!(
                c.rule,
                Rule::BodyContains(_)
                    | Rule::JsonEquals(..)
                    | Rule::JsonExists(_)
                    | Rule::JsonType(..)
            )
        });
        let cookies = defaults.cookies;
        let follow_redirects = spec.follow_redirects.unwrap_or(true);
        let capture_head = cookies
            || header_rules
            || extracts
                .iter()
                .any(|e| matches!(e.source, Source::Header(_) | Source::Cookie(_)));
        let capture_body = body_rules
            || extracts
                .iter()
                .any(|e| matches!(e.source, Source::Json(_) | Source::Regex(_)));
        let fixed = match (head.as_static(), body.as_static()) {
            (Some(h), Some(b)) if !cookies && body_size.is_none() => Some(encode_fixed(h, b)),
            _ => None,
        };
        Ok(Step::Request(Box::new(RequestStep {
            endpoint,
            origin,
            is_head: method == "HEAD",
            fixed,
            head,
            body,
            timeout,
            checks,
            extracts,
            status_checked,
            capture_head,
            capture_body,
            follow_redirects,
            body_size,
            expect_body_bytes,
            when,
        })))
    }

    fn endpoint(&mut self, method: &str, name: &str) -> usize {
        let endpoints = &mut self.plan.endpoints;
        endpoints
            .iter()
            .position(|(m, n)| m == method && n == name)
            .unwrap_or_else(|| {
                endpoints.push((method.to_string(), name.to_string()));
                endpoints.len() - 1
            })
    }

    fn message(&mut self, text: String) -> u32 {
        let messages = &mut self.plan.messages;
        (messages.iter().position(|m| *m == text).unwrap_or_else(|| {
            messages.push(text);
            messages.len() - 1
        })) as u32
    }

    fn thresholds(&mut self) -> Result<()> {
        for (key, value) in &self.doc.file.thresholds {
            let exprs: Vec<String> = match value.get_ref() {
                toml::Value::String(s) => vec![s.clone()],
                toml::Value::Array(items) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                _ => {
                    return Err(self.err(
                        value.span(),
                        format!("thresholds.{key}"),
                        "use a string or a list of strings",
                    ))
                }
            };
            for expr in exprs {
                let global = key.is_empty() || key == "all" || key == "*";
                self.plan.thresholds.push(if global {
                    expr
                } else {
                    format!("{key}: {expr}")
                });
            }
        }
        Ok(())
    }
}

/// Encodes a request with no placeholders once.
fn encode_fixed(head: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = head.to_vec();
    if !body.is_empty() {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// What a user class gives its steps unless they say otherwise.
struct ClassDefaults<'s> {
    /// The class's host URL.
    host: Option<&'s Spanned<String>>,
    /// Whether users keep cookies.
    cookies: bool,
    /// The class's credentials.
    auth: Option<&'s Spanned<AuthSpec>>,
    /// Whether requests ask for compressed responses.
    compressed: bool,
}

/// Run options that change how requests are compiled.
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    /// `--compressed`: every request asks for compressed responses.
    pub compressed: bool,
    /// `--tags`: only tasks with one of these tags run (none: every task).
    pub tags: Vec<String>,
    /// `--exclude-tags`: tasks with one of these tags do not run.
    pub exclude_tags: Vec<String>,
}

impl RequestOptions {
    /// Whether a task with `tags` runs, as Locust selects tasks: with
    /// `--tags`, only tasks carrying one of them; never a task carrying one
    /// of `--exclude-tags`.
    pub fn selects(&self, tags: &[String]) -> bool {
        let included = self.tags.is_empty() || tags.iter().any(|t| self.tags.contains(t));
        included && !tags.iter().any(|t| self.exclude_tags.contains(t))
    }

    /// True when tags select tasks at all.
    fn filters(&self) -> bool {
        !self.tags.is_empty() || !self.exclude_tags.is_empty()
    }
}

/// The `Accept-Encoding` a compressed request sends.
pub const ACCEPT_ENCODING: &str = "gzip, deflate, br, zstd";

#[cfg(test)]
mod tests;
