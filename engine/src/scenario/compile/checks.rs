//! Compiling a step's `check` and `extract` tables into checks and
//! extractors, each with the id of its fixed failure message.

use std::time::Duration;

use toml::Spanned;

use super::{Compiler, Result};
use crate::scenario::check::{Check, Extract, JsonKind, Rule, Source, StatusMatch};
use crate::scenario::model::{CheckSpec, StepSpec};

impl Compiler<'_> {
    pub(super) fn checks(
        &mut self,
        check: &Spanned<CheckSpec>,
        key: &str,
        method: &str,
        name: &str,
    ) -> Result<(Vec<Check>, bool)> {
        let spec = check.get_ref();
        let mut rules: Vec<(Rule, String)> = Vec::new();
        if let Some(status) = &spec.status {
            let accept = status_match(status.get_ref()).ok_or_else(|| {
                self.err(
                    status.span(),
                    format!("{key}.status"),
                    "use a code (200), a list ([200, 201]) or a class (\"2xx\")",
                )
            })?;
            rules.push((
                Rule::Status(accept),
                format!("status is not {}", status.get_ref()),
            ));
        }
        if let Some(text) = &spec.body_contains {
            rules.push((
                Rule::BodyContains(text.get_ref().as_bytes().to_vec()),
                format!("body does not contain '{}'", text.get_ref()),
            ));
        }
        for (pointer, expected) in &spec.json {
            let expected = serde_json::to_value(expected)
                .map_err(|e| self.err(check.span(), format!("{key}.json"), e.to_string()))?;
            rules.push((
                Rule::JsonEquals(pointer.clone(), expected.clone()),
                format!("JSON {pointer} is not {expected}"),
            ));
        }
        for pointer in &spec.json_exists {
            rules.push((
                Rule::JsonExists(pointer.clone()),
                format!("JSON {pointer} is missing"),
            ));
        }
        for (pointer, kind) in &spec.json_type {
            let parsed = JsonKind::parse(kind.get_ref()).ok_or_else(|| {
                self.err(
                    kind.span(),
                    format!("{key}.json_type"),
                    "use array, object, string, number, bool or null",
                )
            })?;
            let at = if pointer.is_empty() {
                "body"
            } else {
                pointer.as_str()
            };
            rules.push((
                Rule::JsonType(pointer.clone(), parsed),
                format!("JSON {at} is not {}", kind.get_ref()),
            ));
        }
        for (header, value) in &spec.header {
            rules.push((
                Rule::Header(header.to_ascii_lowercase(), value.clone()),
                format!("header {header} is not '{value}'"),
            ));
        }
        if let Some(max) = &spec.max_ms {
            let ms = *max.get_ref();
            if !(ms.is_finite() && ms > 0.0) {
                return Err(self.err(max.span(), format!("{key}.max_ms"), "must be above 0"));
            }
            rules.push((
                Rule::MaxTime(Duration::from_secs_f64(ms / 1000.0)),
                format!("slower than {ms} ms"),
            ));
        }
        let status_checked = spec.status.is_some();
        let checks = rules
            .into_iter()
            .map(|(rule, text)| Check {
                rule,
                message: self.message(format!("{method} {name}: {text}")),
            })
            .collect();
        Ok((checks, status_checked))
    }

    pub(super) fn extracts(&mut self, spec: &StepSpec, key: &str) -> Result<Vec<Extract>> {
        let mut out = Vec::new();
        for (var, from) in &spec.extract {
            let ekey = format!("{key}.extract.{var}");
            let (kind, arg) = from.get_ref().split_once(':').ok_or_else(|| {
                self.err(
                    from.span(),
                    &ekey,
                    "use json:/pointer, header:name, regex:pattern or cookie:name",
                )
            })?;
            let source = match kind {
                "json" if arg.is_empty() || arg.starts_with('/') => Source::Json(arg.to_string()),
                "header" if !arg.is_empty() => Source::Header(arg.to_ascii_lowercase()),
                "cookie" if !arg.is_empty() => Source::Cookie(arg.to_string()),
                "regex" => Source::Regex(
                    regex::bytes::Regex::new(arg)
                        .map_err(|e| self.err(from.span(), &ekey, format!("bad regex: {e}")))?,
                ),
                _ => {
                    return Err(self.err(
                        from.span(),
                        &ekey,
                        "use json:/pointer, header:name, regex:pattern or cookie:name",
                    ))
                }
            };
            let message = self.message(format!(
                "extract '{var}': nothing found at {}",
                from.get_ref()
            ));
            out.push(Extract {
                slot: self.slots[var.as_str()],
                source,
                message,
            });
        }
        Ok(out)
    }
}

fn status_match(value: &toml::Value) -> Option<StatusMatch> {
    let code = |v: &toml::Value| {
        v.as_integer()
            .filter(|c| (100..600).contains(c))
            .map(|c| c as u16)
    };
    match value {
        toml::Value::Integer(_) => Some(StatusMatch::Codes(vec![code(value)?])),
        toml::Value::Array(items) if !items.is_empty() => Some(StatusMatch::Codes(
            items.iter().map(code).collect::<Option<_>>()?,
        )),
        toml::Value::String(s) => {
            let digit = s
                .strip_suffix("xx")?
                .parse::<u16>()
                .ok()
                .filter(|d| (1..6).contains(d))?;
            Some(StatusMatch::Class(digit))
        }
        _ => None,
    }
}
