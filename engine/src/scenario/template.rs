//! Templates: `${...}` placeholders in paths, headers and bodies, split at
//! compile time into literal and variable parts so rendering is copying.
//!
//! Placeholders: `${name}` (a user variable, feeder column, setup value or
//! constant, resolved to a slot when compiled), `${env.NAME}` (read once at
//! load), and the built-ins `${user_id}`, `${iteration}`, `${uuid}`,
//! `${random_int(A,B)}` and `${timestamp_ms}`. `$${` writes a literal `${`.
//!
//! Where a value lands decides how it is written ([`Escape`]): percent-encoded
//! in a path or query, form-encoded in a form body, JSON-escaped inside a JSON
//! string, and checked in a header (a value holding CR, LF or NUL would split
//! the request, so rendering refuses it). Built-ins only ever produce
//! characters that need no escaping.

use std::io::Write;

/// How a variable's value is written where it lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// As it is (a body).
    Raw,
    /// A path sent as written (`raw_path = true`): as it is, but CR, LF,
    /// NUL and space are refused.
    RawPath,
    /// A path: RFC 3986 percent-encoding of every byte that is not allowed
    /// in a path or query (`/` and `?` are kept, so a value may carry a
    /// path and query of its own, as requests' `requote_uri` allows; so is
    /// a valid `%XX`, already encoded). Spaces, `#`, quotes, controls and
    /// non-ASCII bytes (as UTF-8) are encoded.
    Path,
    /// A query component: as `Path`, and `&`, `=`, `+`, `#` are encoded too,
    /// so a value stays one value.
    Query,
    /// `application/x-www-form-urlencoded`: unreserved characters kept,
    /// space as `+`, every other byte `%XX`.
    Form,
    /// Inside a JSON string: `"`, `\\` and control characters escaped.
    Json,
    /// A header value: written as it is; CR, LF and NUL are refused.
    Header,
}

impl Escape {
    /// False when `value` cannot be written here: CR, LF or NUL in a header
    /// or raw path (and a space in a raw path) would split the request.
    pub fn allows(self, value: &[u8]) -> bool {
        match self {
            Escape::Header => !value.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)),
            Escape::RawPath => !value.iter().any(|b| matches!(b, b'\r' | b'\n' | 0 | b' ')),
            _ => true,
        }
    }
}

/// Why a template could not be rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderError {
    /// A variable (by slot) has no value yet.
    Unset(usize),
    /// A variable (by slot) holds CR, LF or NUL where the request head would
    /// carry it, which would split the request.
    Unsafe(usize),
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    /// Bytes copied as they are.
    Literal(Vec<u8>),
    /// The value of a variable slot, written as the escape says.
    Var(usize, Escape),
    /// The user's global number.
    UserId,
    /// The user's iteration count.
    Iteration,
    /// A random version-4 UUID.
    Uuid,
    /// A random integer in `[low, high]`.
    RandomInt(i64, i64),
    /// Milliseconds since the Unix epoch.
    TimestampMs,
    /// Another template's rendering in base64 (basic auth credentials).
    Base64(Box<Template>),
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Template {
    parts: Vec<Part>,
}

/// What rendering reads besides the template.
pub struct RenderCtx<'a> {
    /// Variable values by slot; `None` when not set yet.
    pub vars: &'a [Option<Vec<u8>>],
    /// The user's global number.
    pub user_id: u64,
    /// The user's iteration count.
    pub iteration: u64,
    /// The user's random source.
    pub rng: &'a mut fastrand::Rng,
}

impl Template {
    /// Compiles `text`, whose values are written as they are (`Raw`);
    /// `resolve` maps a variable name to its slot.
    pub fn parse(
        text: &str,
        resolve: &mut dyn FnMut(&str) -> Option<usize>,
    ) -> Result<Template, String> {
        Self::parse_escaped(text, resolve, Escape::Raw)
    }

    /// Compiles `text`, whose variables' values are written with `escape`.
    /// Literal text is kept as written, except that `Form` encodes it too (a
    /// form's literal values are as much data as its variables).
    pub fn parse_escaped(
        text: &str,
        resolve: &mut dyn FnMut(&str) -> Option<usize>,
        escape: Escape,
    ) -> Result<Template, String> {
        let mut template = Self::parse_parts(text, resolve, escape)?;
        if escape == Escape::Form {
            for part in &mut template.parts {
                if let Part::Literal(bytes) = part {
                    let mut encoded = Vec::with_capacity(bytes.len());
                    escape_into(&mut encoded, bytes, Escape::Form);
                    *bytes = encoded;
                }
            }
        }
        Ok(template)
    }

    fn parse_parts(
        text: &str,
        resolve: &mut dyn FnMut(&str) -> Option<usize>,
        escape: Escape,
    ) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.find("${") {
            if rest[..at].ends_with('$') {
                literal.extend_from_slice(rest[..at - 1].as_bytes());
                literal.extend_from_slice(b"${");
                rest = &rest[at + 2..];
                continue;
            }
            literal.extend_from_slice(rest[..at].as_bytes());
            let close = rest[at..]
                .find('}')
                .ok_or_else(|| format!("unclosed '${{' in template '{text}'"))?;
            let inner = rest[at + 2..at + close].trim();
            let part = placeholder(inner, resolve, escape)?;
            match part {
                Part::Literal(bytes) => literal.extend_from_slice(&bytes),
                part => {
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(part);
                }
            }
            rest = &rest[at + close + 1..];
        }
        literal.extend_from_slice(rest.as_bytes());
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Template { parts })
    }

    /// Appends `other`'s parts, joining adjacent literals.
    pub fn append(&mut self, other: Template) {
        for part in other.parts {
            match (self.parts.last_mut(), part) {
                (Some(Part::Literal(last)), Part::Literal(more)) => last.extend_from_slice(&more),
                (_, part) => self.parts.push(part),
            }
        }
    }

    /// Appends literal text.
    pub fn push_literal(&mut self, text: &str) {
        if !text.is_empty() {
            self.append(Template::literal(text));
        }
    }

    /// `inner` rendered and then base64-encoded: computed now when `inner`
    /// is fixed, else per request through a reused scratch buffer.
    pub fn base64(inner: Template) -> Template {
        match inner.as_static() {
            Some(bytes) => {
                let mut encoded = Vec::new();
                base64_into(&mut encoded, bytes);
                Template {
                    parts: vec![Part::Literal(encoded)],
                }
            }
            None => Template {
                parts: vec![Part::Base64(Box::new(inner))],
            },
        }
    }

    /// A template with no placeholders.
    pub fn literal(text: &str) -> Template {
        let parts = if text.is_empty() {
            vec![]
        } else {
            vec![Part::Literal(text.as_bytes().to_vec())]
        };
        Template { parts }
    }

    /// The text when the template has no placeholders.
    pub fn as_static(&self) -> Option<&[u8]> {
        match self.parts.as_slice() {
            [] => Some(&[]),
            [Part::Literal(bytes)] => Some(bytes),
            _ => None,
        }
    }

    /// Appends the rendered text to `out`.
    pub fn render(&self, ctx: &mut RenderCtx<'_>, out: &mut Vec<u8>) -> Result<(), RenderError> {
        for part in &self.parts {
            match part {
                Part::Literal(bytes) => out.extend_from_slice(bytes),
                Part::Var(slot, escape) => match ctx.vars.get(*slot) {
                    Some(Some(value)) => {
                        if !escape.allows(value) {
                            return Err(RenderError::Unsafe(*slot));
                        }
                        escape_into(out, value, *escape);
                    }
                    _ => return Err(RenderError::Unset(*slot)),
                },
                Part::UserId => write_num(out, ctx.user_id),
                Part::Iteration => write_num(out, ctx.iteration),
                Part::Uuid => write_uuid(out, ctx.rng),
                Part::RandomInt(low, high) => {
                    let _ = write!(out, "{}", ctx.rng.i64(*low..=*high));
                }
                Part::TimestampMs => {
                    let ms = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as u64);
                    write_num(out, ms);
                }
                Part::Base64(inner) => {
                    // The plain text goes after the output, is encoded, then dropped.
                    let start = out.len();
                    inner.render(ctx, out)?;
                    let plain_len = out.len() - start;
                    SCRATCH.with(|scratch| {
                        let mut scratch = scratch.borrow_mut();
                        scratch.clear();
                        scratch.extend_from_slice(&out[start..start + plain_len]);
                        out.truncate(start);
                        base64_into(out, &scratch);
                    });
                }
            }
        }
        Ok(())
    }

    /// True when a head template writes header `name` (lower case): a
    /// literal part holds `\r\nName:` (headers follow the request line).
    pub fn has_header(&self, name: &str) -> bool {
        self.parts.iter().any(|part| match part {
            Part::Literal(bytes) => writes_header(bytes, name),
            _ => false,
        })
    }

    /// Slots this template reads.
    pub fn slots(&self) -> Vec<usize> {
        let mut slots = Vec::new();
        for part in &self.parts {
            match part {
                Part::Var(slot, _) => slots.push(*slot),
                Part::Base64(inner) => slots.extend(inner.slots()),
                _ => {}
            }
        }
        slots
    }
}

thread_local! {
    /// `${env.NAME}` values to use instead of this process's environment
    /// while set (a worker compiling its coordinator's scenario).
    static GIVEN_ENV: std::cell::RefCell<Option<std::collections::BTreeMap<String, String>>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `f` with `${env.NAME}` read from `env` only, never from this
/// process's environment (a worker: its coordinator sends the values).
pub fn with_given_env<T>(env: &[(String, String)], f: impl FnOnce() -> T) -> T {
    let given = env.iter().cloned().collect();
    let before = GIVEN_ENV.with(|g| g.replace(Some(given)));
    let out = f();
    GIVEN_ENV.with(|g| *g.borrow_mut() = before);
    out
}

/// The value of `${env.NAME}`: the given environment's, if one is set, or this process's.
fn env_var(name: &str) -> Result<String, String> {
    GIVEN_ENV.with(|given| match &*given.borrow() {
        Some(given) => given.get(name).cloned().ok_or_else(|| {
            format!(
                "environment variable {name} was not sent by the coordinator (it is not set there)"
            )
        }),
        None => std::env::var(name).map_err(|_| format!("environment variable {name} is not set")),
    })
}

/// Compiles the inside of one `${...}`.
fn placeholder(
    inner: &str,
    resolve: &mut dyn FnMut(&str) -> Option<usize>,
    escape: Escape,
) -> Result<Part, String> {
    if let Some(name) = inner.strip_prefix("env.") {
        let value = env_var(name)?;
        if !escape.allows(value.as_bytes()) {
            return Err(format!(
                "environment variable {name} holds a line break{} where the request head would carry it",
                if escape == Escape::RawPath { " or space" } else { "" }
            ));
        }
        let mut bytes = Vec::with_capacity(value.len());
        // Form literals are all encoded afterwards; encoding here too would do it twice.
        let escape = if escape == Escape::Form {
            Escape::Raw
        } else {
            escape
        };
        escape_into(&mut bytes, value.as_bytes(), escape);
        return Ok(Part::Literal(bytes));
    }
    if let Some(args) = inner
        .strip_prefix("random_int(")
        .and_then(|a| a.strip_suffix(')'))
    {
        let bad = || format!("'${{{inner}}}': use random_int(LOW,HIGH) with integers, LOW <= HIGH");
        let (low, high) = args.split_once(',').ok_or_else(bad)?;
        let low: i64 = low.trim().parse().map_err(|_| bad())?;
        let high: i64 = high.trim().parse().map_err(|_| bad())?;
        return if low <= high {
            Ok(Part::RandomInt(low, high))
        } else {
            Err(bad())
        };
    }
    match inner {
        "user_id" => Ok(Part::UserId),
        "iteration" => Ok(Part::Iteration),
        "uuid" => Ok(Part::Uuid),
        "timestamp_ms" => Ok(Part::TimestampMs),
        "" => Err("empty '${}' in template".to_string()),
        name if name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.') =>
        {
            resolve(name)
                .map(|slot| Part::Var(slot, escape))
                .ok_or_else(|| format!("undefined variable '{name}'"))
        }
        other => Err(format!("bad placeholder '${{{other}}}'")),
    }
}

/// Writes `value` into `out` as `escape` says (`Raw` and `Header` copy).
pub fn escape_into(out: &mut Vec<u8>, value: &[u8], escape: Escape) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let percent = |out: &mut Vec<u8>, b: u8| {
        out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
    };
    match escape {
        Escape::Raw | Escape::RawPath | Escape::Header => out.extend_from_slice(value),
        Escape::Path | Escape::Query => {
            for (i, &b) in value.iter().enumerate() {
                let kept = b.is_ascii_alphanumeric()
                    || b"-._~!$'()*,;:@/".contains(&b)
                    || b == b'?'
                    || (escape == Escape::Path && b"&=+".contains(&b))
                    || (b == b'%' && is_percent_escape(&value[i..]));
                if kept {
                    out.push(b);
                } else {
                    percent(out, b);
                }
            }
        }
        Escape::Form => {
            for &b in value {
                match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        out.push(b)
                    }
                    b' ' => out.push(b'+'),
                    _ => percent(out, b),
                }
            }
        }
        Escape::Json => {
            for &b in value {
                match b {
                    b'"' => out.extend_from_slice(b"\\\""),
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    0..=0x1f => {
                        out.extend_from_slice(b"\\u00");
                        out.push(HEX[usize::from(b >> 4)]);
                        out.push(HEX[usize::from(b & 0xf)]);
                    }
                    _ => out.push(b),
                }
            }
        }
    }
}

/// True when `bytes` (part of a request head) hold `\r\nName:` for `name`
/// (lower case).
pub fn writes_header(bytes: &[u8], name: &str) -> bool {
    bytes.windows(name.len() + 3).any(|w| {
        w.starts_with(b"\r\n")
            && w.ends_with(b":")
            && w[2..2 + name.len()].eq_ignore_ascii_case(name.as_bytes())
    })
}

thread_local! {
    /// Plain text of a base64 part while it is encoded; grows once, then reused.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Appends `bytes` in standard base64 with padding (RFC 4648).
pub fn base64_into(out: &mut Vec<u8>, bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let symbols = [(n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63];
        for (i, symbol) in symbols.iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[*symbol as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
}

/// True when `bytes` starts with `%` and two hex digits.
fn is_percent_escape(bytes: &[u8]) -> bool {
    bytes.len() >= 3 && bytes[1].is_ascii_hexdigit() && bytes[2].is_ascii_hexdigit()
}

fn write_num(out: &mut Vec<u8>, n: u64) {
    let _ = write!(out, "{n}");
}

fn write_uuid(out: &mut Vec<u8>, rng: &mut fastrand::Rng) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bytes = rng.u128(..).to_be_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push(b'-');
        }
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(text: &str) -> Result<Template, String> {
        Template::parse(text, &mut |name| {
            ["token", "id"].iter().position(|n| *n == name)
        })
    }

    fn render(t: &Template, vars: &[Option<Vec<u8>>]) -> Result<String, RenderError> {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut ctx = RenderCtx {
            vars,
            user_id: 12,
            iteration: 3,
            rng: &mut rng,
        };
        let mut out = Vec::new();
        t.render(&mut ctx, &mut out)
            .map(|_| String::from_utf8(out).unwrap())
    }

    /// Variables and built-ins render in place; literals stay as they are.
    #[test]
    fn renders_parts() {
        let t = compile("/p/${id}?u=${user_id}&i=${ iteration }&x=$${id}").unwrap();
        let vars = [Some(b"tok".to_vec()), Some(b"42".to_vec())];
        assert_eq!(render(&t, &vars).unwrap(), "/p/42?u=12&i=3&x=${id}");
        assert!(compile("/static").unwrap().as_static().is_some());
        assert!(t.as_static().is_none());
        assert_eq!(t.slots(), vec![1]);
    }

    /// A variable with no value yet is reported by slot, not rendered empty.
    #[test]
    fn unset_variable_is_an_error() {
        let t = compile("Bearer ${token}").unwrap();
        assert_eq!(render(&t, &[None, None]), Err(RenderError::Unset(0)));
    }

    /// Built-ins produce well-formed values.
    #[test]
    fn builtins() {
        let uuid = render(&compile("${uuid}").unwrap(), &[]).unwrap();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
        for _ in 0..50 {
            let n: i64 = render(&compile("${random_int(5, 7)}").unwrap(), &[])
                .unwrap()
                .parse()
                .unwrap();
            assert!((5..=7).contains(&n));
        }
        let ms: u64 = render(&compile("${timestamp_ms}").unwrap(), &[])
            .unwrap()
            .parse()
            .unwrap();
        assert!(ms > 1_600_000_000_000);
    }

    /// Malformed templates fail at compile time with a reason.
    #[test]
    fn bad_templates() {
        for (text, reason) in [
            ("${tokn}", "undefined variable 'tokn'"),
            ("${token", "unclosed"),
            ("${}", "empty"),
            ("${random_int(9,1)}", "random_int"),
            ("${a b}", "bad placeholder"),
            ("${env.STAMPEDE_SURELY_UNSET_VAR}", "not set"),
        ] {
            let err = compile(text).unwrap_err();
            assert!(err.contains(reason), "{text}: {err}");
        }
    }
}
