//! The request parts of a step: its path and query (values percent-
//! encoded), query table, credentials and body, each compiled into a
//! template whose values are written as [`Escape`] says.

use toml::Spanned;

use super::super::model::{AuthSpec, StepSpec};
use super::super::template::{escape_into, Escape, Template};
use super::{Compiler, Result};
use crate::config::parse_url_with;
use crate::http::body_block::{self, parse_body_size, BodyBlock, DEFAULT_BLOCK_BYTES};
use crate::http::sigv4::{Credentials, SigningConfig};
use crate::scenario::BodySize;

impl Compiler<'_> {
    /// Compiles a value whose variables are written with `escape`, so an
    /// error points at the value.
    pub(super) fn escaped(
        &self,
        value: &Spanned<String>,
        key: &str,
        escape: Escape,
    ) -> Result<Template> {
        // A header's literal text is held to what its values are held to:
        // a line break or NUL would split the request head.
        if escape == Escape::Header && !escape.allows(value.get_ref().as_bytes()) {
            return Err(self.err(
                value.span(),
                key,
                "a header value cannot hold a line break or NUL (it would split the request)",
            ));
        }
        Template::parse_escaped(value.get_ref(), &mut |n| self.slots.get(n).copied(), escape)
            .map_err(|m| self.err(value.span(), key, m))
    }

    /// The path template: literal text is sent as written (and so must be
    /// valid in a request line); values are percent-encoded, as a path
    /// before the first `?` and as a query after it, unless `raw_path`.
    pub(super) fn path(
        &self,
        path: &Spanned<String>,
        spec: &StepSpec,
        key: &str,
    ) -> Result<Template> {
        let text = path.get_ref();
        if !(text.starts_with('/') || text.starts_with("${")) {
            return Err(self.err(path.span(), key, "must start with '/' (or a ${variable})"));
        }
        if let Some(bad) = text.chars().find(|c| !c.is_ascii_graphic()) {
            let mut encoded = Vec::new();
            escape_into(&mut encoded, bad.to_string().as_bytes(), Escape::Form);
            let encoded = String::from_utf8_lossy(&encoded).replace('+', "%20");
            return Err(self.err(
                path.span(),
                key,
                format!(
                    "{bad:?} cannot be sent as written in a path: write it as {encoded} (values \
                     from ${{...}} are encoded for you; literal text is sent as written)"
                ),
            ));
        }
        if spec.raw_path {
            return self.escaped(path, key, Escape::RawPath);
        }
        // Split at the first '?' outside a placeholder.
        let mut depth = 0;
        let mut split = None;
        for (i, c) in text.char_indices() {
            match c {
                '{' if text[..i].ends_with('$') => depth += 1,
                '}' if depth > 0 => depth -= 1,
                '?' if depth == 0 => {
                    split = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let resolve = &mut |n: &str| self.slots.get(n).copied();
        let parsed = match split {
            None => Template::parse_escaped(text, resolve, Escape::Path),
            Some(i) => {
                Template::parse_escaped(&text[..i], resolve, Escape::Path).and_then(|mut t| {
                    t.push_literal("?");
                    t.append(Template::parse_escaped(
                        &text[i + 1..],
                        resolve,
                        Escape::Query,
                    )?);
                    Ok(t)
                })
            }
        };
        parsed.map_err(|m| self.err(path.span(), key, m))
    }

    /// `query = { k = "v" }`, form-encoded after the path (`?` or `&`).
    pub(super) fn query(
        &self,
        spec: &StepSpec,
        path_has_query: bool,
        key: &str,
    ) -> Result<Template> {
        let mut query = Template::default();
        for (i, (name, value)) in spec.query.iter().enumerate() {
            query.push_literal(if i == 0 && !path_has_query { "?" } else { "&" });
            let mut encoded = Vec::new();
            escape_into(&mut encoded, name.as_bytes(), Escape::Form);
            query.push_literal(&String::from_utf8_lossy(&encoded));
            query.push_literal("=");
            query.append(self.escaped(value, &format!("{key}.query.{name}"), Escape::Form)?);
        }
        Ok(query)
    }

    /// The `Authorization` header line of `auth`.
    pub(super) fn auth(&self, auth: &Spanned<AuthSpec>, key: &str) -> Result<Template> {
        let spec = auth.get_ref();
        let mut line = Template::literal("Authorization: ");
        match (&spec.basic, &spec.bearer) {
            (Some(basic), None) => {
                let [user, password] = basic.get_ref().as_slice() else {
                    return Err(self.err(
                        basic.span(),
                        format!("{key}.basic"),
                        "give [\"user\", \"password\"]",
                    ));
                };
                if user.contains(':') {
                    return Err(self.err(
                        basic.span(),
                        format!("{key}.basic"),
                        "a basic-auth user name cannot contain ':'",
                    ));
                }
                let plain = Spanned::new(basic.span(), format!("{user}:{password}"));
                let plain = self.escaped(&plain, &format!("{key}.basic"), Escape::Raw)?;
                line.push_literal("Basic ");
                line.append(Template::base64(plain));
            }
            (None, Some(token)) => {
                line.push_literal("Bearer ");
                line.append(self.escaped(token, &format!("{key}.bearer"), Escape::Header)?);
            }
            _ => {
                return Err(self.err(
                    auth.span(),
                    key,
                    "give one of basic = [\"user\", \"password\"], bearer = \"token\" or \
                     aws_sigv4 = { region = \"...\", service = \"...\" }",
                ))
            }
        }
        line.push_literal("\r\n");
        Ok(line)
    }

    /// The scope an `aws_sigv4` auth signs with, as an index into the
    /// plan's `scoped_signing` (one entry per region and service); `None`
    /// for the other kinds of auth. The keys are read from the environment
    /// at the first use, as `--aws-sigv4` reads them; their absence is an
    /// error at this key.
    pub(super) fn signing(&mut self, auth: &Spanned<AuthSpec>, key: &str) -> Result<Option<usize>> {
        let spec = auth.get_ref();
        let Some(scope) = &spec.aws_sigv4 else {
            return Ok(None);
        };
        let key = format!("{key}.aws_sigv4");
        if spec.basic.is_some() || spec.bearer.is_some() {
            return Err(self.err(
                auth.span(),
                key,
                "give one of basic, bearer or aws_sigv4, not several",
            ));
        }
        let (region, service) = (&scope.get_ref().region, &scope.get_ref().service);
        for (value, name) in [(region, "region"), (service, "service")] {
            let text = value.get_ref();
            let valid = !text.is_empty()
                && text
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !valid {
                return Err(self.err(
                    value.span(),
                    format!("{key}.{name}"),
                    format!(
                        "'{text}' is not an AWS {name}: lower-case letters, digits and '-', \
                         e.g. region = \"us-east-1\", service = \"s3\""
                    ),
                ));
            }
        }
        let (region, service) = (region.get_ref().clone(), service.get_ref().clone());
        let known = self
            .plan
            .scoped_signing
            .iter()
            .position(|c| c.region == region && c.service == service);
        if let Some(index) = known {
            return Ok(Some(index));
        }
        let credentials = match &self.credentials {
            Some(credentials) => credentials.clone(),
            None => {
                let credentials = Credentials::from_environment()
                    .map_err(|message| self.err(scope.span(), key.clone(), message))?;
                self.credentials = Some(credentials.clone());
                credentials
            }
        };
        self.plan
            .scoped_signing
            .push(std::sync::Arc::new(SigningConfig {
                region,
                service,
                credentials,
                sign_payload: self.options.sign_payload,
                // A scenario's scopes sign in headers; presigned URLs are the run's choice.
                location: crate::http::sigv4::SignatureLocation::Headers,
            }));
        Ok(Some(self.plan.scoped_signing.len() - 1))
    }

    /// The body template and its content type.
    pub(super) fn body(
        &self,
        spec: &StepSpec,
        key: &str,
    ) -> Result<(Template, Option<&'static str>)> {
        let given = [
            spec.body.is_some(),
            spec.json.is_some(),
            !spec.form.is_empty(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(self.err(
                0..0,
                format!("{key}.body"),
                "give one of body, json or form",
            ));
        }
        if let Some(body) = &spec.body {
            return Ok((
                self.escaped(body, &format!("{key}.body"), Escape::Raw)?,
                None,
            ));
        }
        if let Some(json) = &spec.json {
            let value = serde_json::to_value(json.get_ref())
                .map_err(|e| self.err(json.span(), format!("{key}.json"), e.to_string()))?;
            let text = Spanned::new(json.span(), value.to_string());
            let body = self.escaped(&text, &format!("{key}.json"), Escape::Json)?;
            return Ok((body, Some("application/json")));
        }
        let mut form = Template::default();
        for (i, (name, value)) in spec.form.iter().enumerate() {
            if i > 0 {
                form.push_literal("&");
            }
            let mut encoded = Vec::new();
            escape_into(&mut encoded, name.as_bytes(), Escape::Form);
            form.push_literal(&String::from_utf8_lossy(&encoded));
            form.push_literal("=");
            form.append(self.escaped(value, &format!("{key}.form.{name}"), Escape::Form)?);
        }
        let content_type = (!spec.form.is_empty()).then_some("application/x-www-form-urlencoded");
        Ok((form, content_type))
    }

    /// The origin index, Host authority and base path (the URL's path, with
    /// no trailing `/`, put before every step path as Locust does) of a
    /// step's host, or of the run's target.
    pub(super) fn origin(
        &mut self,
        host: Option<&Spanned<String>>,
        key: &str,
    ) -> Result<(usize, String, String)> {
        let (origin, authority, path) = match host {
            Some(h) => {
                let url = parse_url_with(h.get_ref(), None, &self.target.resolve)
                    .map_err(|m| self.err(h.span(), format!("{key}.host"), m))?;
                (url.origin, url.authority, url.path)
            }
            None => (
                self.target.origin.clone(),
                self.target.authority.clone(),
                self.target.path.clone(),
            ),
        };
        let base_path = base_path(&path);
        let addr = origin.addr;
        let index = match self
            .origin_keys
            .iter()
            .position(|(a, h)| *a == addr && *h == authority)
        {
            Some(i) => i,
            None => {
                self.origin_keys.push((addr, authority.clone()));
                self.plan.origins.push(origin);
                self.origin_keys.len() - 1
            }
        };
        Ok((index, authority, base_path))
    }
}

/// Largest literal `body_size`: the shared block is made at least this
/// large for it, once per process.
const BODY_SIZE_LITERAL_MAX: u64 = 1 << 30;

impl Compiler<'_> {
    /// `body_size`: the size template and its failure message; a literal
    /// size is checked now and the plan's shared block made large enough.
    pub(super) fn body_size(
        &mut self,
        spec: &StepSpec,
        key: &str,
        endpoint: &str,
    ) -> Result<Option<BodySize>> {
        let Some(size) = &spec.body_size else {
            return Ok(None);
        };
        let key = format!("{key}.body_size");
        if spec.body.is_some() || spec.json.is_some() || !spec.form.is_empty() {
            return Err(self.err(
                size.span(),
                key,
                "give one of body, json, form or body_size",
            ));
        }
        let template = self.escaped(size, &key, Escape::Raw)?;
        let mut least = DEFAULT_BLOCK_BYTES as u64;
        if let Some(literal) = template.as_static() {
            match parse_body_size(literal) {
                Some(bytes) if bytes <= BODY_SIZE_LITERAL_MAX => least = least.max(bytes),
                _ => {
                    return Err(self.err(
                        size.span(),
                        key,
                        "use a byte count such as 4096, 4KiB or 16MiB, at most 1GiB",
                    ))
                }
            }
        }
        if (self.plan.body_block.0.len() as u64) < least {
            self.plan.body_block = BodyBlock(body_block::shared(least as usize));
        }
        let largest = self.plan.body_block.0.len();
        let message = self.message(format!(
            "{endpoint}: body_size is not a byte count of at most {largest}"
        ));
        Ok(Some(BodySize {
            size: template,
            message,
        }))
    }

    /// `check.body_bytes`: the byte count the response body must have.
    pub(super) fn expect_body_bytes(
        &mut self,
        spec: &StepSpec,
        key: &str,
        endpoint: &str,
    ) -> Result<Option<BodySize>> {
        let Some(bytes) = spec
            .check
            .as_ref()
            .and_then(|c| c.get_ref().body_bytes.as_ref())
        else {
            return Ok(None);
        };
        let key = format!("{key}.check.body_bytes");
        let template = self.escaped(bytes, &key, Escape::Raw)?;
        if let Some(literal) = template.as_static() {
            if parse_body_size(literal).is_none() {
                return Err(self.err(bytes.span(), key, "use a byte count such as 4096 or 4KiB"));
            }
        }
        let message = self.message(format!("{endpoint}: body is not {} bytes", bytes.get_ref()));
        Ok(Some(BodySize {
            size: template,
            message,
        }))
    }

    /// `when`: (slot, value) pairs the step's user must hold for it to run.
    pub(super) fn when(&self, spec: &StepSpec, key: &str) -> Result<Vec<(usize, Vec<u8>)>> {
        let mut out = Vec::new();
        for (name, value) in &spec.when {
            let slot = self.slots.get(name).copied().ok_or_else(|| {
                self.err(
                    value.span(),
                    format!("{key}.when.{name}"),
                    format!("'{name}' is no variable, feeder column or extracted value"),
                )
            })?;
            out.push((slot, value.get_ref().as_bytes().to_vec()));
        }
        Ok(out)
    }
}

/// The part of a host URL's path put before each step's path: the path
/// without its query and trailing `/` (`http://h/api/` gives `/api`).
fn base_path(url_path: &str) -> String {
    let path = url_path.split('?').next().unwrap_or("");
    path.trim_end_matches('/').to_string()
}
