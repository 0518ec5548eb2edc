//! Templates: `${...}` placeholders in paths, headers and bodies, split at
//! compile time into literal and variable parts so rendering is copying.
//!
//! Placeholders: `${name}` (a user variable, feeder column, setup value or
//! constant, resolved to a slot when compiled), `${env.NAME}` (read once at
//! load), and the built-ins `${user_id}`, `${iteration}`, `${uuid}`,
//! `${random_int(A,B)}` and `${timestamp_ms}`. `$${` writes a literal `${`.

use std::io::Write;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    /// Bytes copied as they are.
    Literal(Vec<u8>),
    /// The value of a variable slot.
    Var(usize),
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
    /// Compiles `text`; `resolve` maps a variable name to its slot.
    pub fn parse(
        text: &str,
        resolve: &mut dyn FnMut(&str) -> Option<usize>,
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
            let part = placeholder(inner, resolve)?;
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

    /// Appends the rendered text to `out`; `Err(slot)` names a variable with no value.
    pub fn render(&self, ctx: &mut RenderCtx<'_>, out: &mut Vec<u8>) -> Result<(), usize> {
        for part in &self.parts {
            match part {
                Part::Literal(bytes) => out.extend_from_slice(bytes),
                Part::Var(slot) => match ctx.vars.get(*slot) {
                    Some(Some(value)) => out.extend_from_slice(value),
                    _ => return Err(*slot),
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
            }
        }
        Ok(())
    }

    /// Slots this template reads.
    pub fn slots(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts
            .iter()
            .filter_map(|p| if let Part::Var(s) = p { Some(*s) } else { None })
    }
}

/// Compiles the inside of one `${...}`.
fn placeholder(
    inner: &str,
    resolve: &mut dyn FnMut(&str) -> Option<usize>,
) -> Result<Part, String> {
    if let Some(name) = inner.strip_prefix("env.") {
        return std::env::var(name)
            .map(|v| Part::Literal(v.into_bytes()))
            .map_err(|_| format!("environment variable {name} is not set"));
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
                .map(Part::Var)
                .ok_or_else(|| format!("undefined variable '{name}'"))
        }
        other => Err(format!("bad placeholder '${{{other}}}'")),
    }
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

    fn render(t: &Template, vars: &[Option<Vec<u8>>]) -> Result<String, usize> {
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
        assert_eq!(t.slots().collect::<Vec<_>>(), vec![1]);
    }

    /// A variable with no value yet is reported by slot, not rendered empty.
    #[test]
    fn unset_variable_is_an_error() {
        let t = compile("Bearer ${token}").unwrap();
        assert_eq!(render(&t, &[None, None]), Err(0));
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
