//! Property and fuzz tests of the scenario loader and templates: scenario
//! files assembled from valid and hostile pieces, and the same text with
//! characters changed, parse and compile or fail with one line naming a
//! line of the file, never a panic; every request of a compiled plan renders
//! with any variable values, and a value can never add a line to the
//! request head. Templates on their own: each escape writes a value so that
//! decoding gives it back, and a header refuses what would split it.
//!
//! No test here resolves a name: hosts are IP literals or `fuzz.test`,
//! which the target's `--resolve` overrides map to 127.0.0.1, and a mutated
//! file naming any other host is parsed but not compiled. Feeder rows are
//! given, never read from disk. Budgets and the long-run command:
//! `crate::fuzz` and docs/testing.md.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use proptest::prelude::*;

use super::super::template::{escape_into, Escape, RenderCtx, RenderError, Template};
use super::super::{Plan, Step};
use super::ScenarioDoc;
use crate::config::TargetUrl;
use crate::fuzz::config;

/// Pieces of string values: placeholders good and bad, characters that
/// need escaping where they land, and ones that would split a request.
const PIECES: &[&str] = &[
    "/",
    "/a",
    "x",
    "${v}",
    "${w}",
    "${ v }",
    "${undefined}",
    "${uuid}",
    "${user_id}",
    "${iteration}",
    "${timestamp_ms}",
    "${random_int(1,9)}",
    "${random_int(9,1)}",
    "${random_int(-9223372036854775808,9223372036854775807)}",
    "${random_int(1,)}",
    "${env.STAMPEDE_FUZZ_SURELY_UNSET}",
    "${env.HOME}",
    "${a b}",
    "${}",
    "$${",
    "${",
    "}",
    "$",
    "%",
    "%41",
    "%zz",
    " ",
    "?",
    "&",
    "=",
    "+",
    "#",
    "é",
    "\u{0}",
    "\r\n",
    "\n",
    "\t",
    "\"",
    "\\",
    "'",
    "[",
    "{",
    "json:/a",
    "header:x-a",
    "regex:(",
    "regex:a(.)c",
    "cookie:c",
    "xpath://a",
];

/// A TOML basic string holding `text`.
fn quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A string value made of up to four pieces.
fn value() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..4).prop_map(|p| p.concat())
}

/// A path: usually starting with `/`, sometimes not.
fn path() -> impl Strategy<Value = String> {
    (any::<bool>(), value()).prop_map(|(slash, rest)| if slash { format!("/{rest}") } else { rest })
}

/// One `key = value` line among the optional keys of a step.
fn step_line() -> impl Strategy<Value = String> {
    let pick = |items: &'static [&'static str]| prop::sample::select(items);
    prop_oneof![
        pick(&["GET", "POST", "HEAD", "PUT", "get", "BAD METHOD", ""])
            .prop_map(|m| format!("method = {}", quoted(m))),
        (value(), value()).prop_map(|(k, v)| format!(
            "query = {{ {} = {} }}",
            quoted(&k),
            quoted(&v)
        )),
        (
            pick(&[
                "x-a",
                "Content-Type",
                "Host",
                "content-length",
                "Bad Name",
                "",
                "x-${v}"
            ]),
            value()
        )
            .prop_map(|(k, v)| format!("headers = {{ {} = {} }}", quoted(k), quoted(&v))),
        value().prop_map(|v| format!("body = {}", quoted(&v))),
        (value(), value()).prop_map(|(a, b)| format!(
            "json = {{ a = {}, b = [1, {}] }}",
            quoted(&a),
            quoted(&b)
        )),
        (value(), value()).prop_map(|(k, v)| format!(
            "form = {{ {} = {} }}",
            quoted(&k),
            quoted(&v)
        )),
        pick(&["1s", "0s", "-1s", "soon", "500ms", "1e9s", ""])
            .prop_map(|t| format!("timeout = {}", quoted(t))),
        pick(&[
            "200",
            "[200, 201]",
            "\"2xx\"",
            "\"9xx\"",
            "0",
            "-1",
            "70000",
            "[]",
            "true"
        ])
        .prop_map(|s| format!("check = {{ status = {s} }}")),
        value().prop_map(|v| format!("check = {{ body_contains = {}, max_ms = 5 }}", quoted(&v))),
        (value(), value()).prop_map(|(p, v)| format!(
            "check = {{ json = {{ {} = {} }}, json_exists = [{}] }}",
            quoted(&p),
            quoted(&v),
            quoted(&p)
        )),
        (value(), value()).prop_map(|(h, v)| format!(
            "check = {{ header = {{ {} = {} }} }}",
            quoted(&h),
            quoted(&v)
        )),
        (pick(&["tok", "v", "w", "1x", ""]), value()).prop_map(|(n, v)| format!(
            "extract = {{ {} = {} }}",
            quoted(n),
            quoted(&v)
        )),
        pick(&[
            "http://127.0.0.1:1",
            "https://127.0.0.1:1",
            "http://[::1]:8080",
            "http://127.0.0.1:99999",
            "ftp://x",
            "http://fuzz.test",
            "http://fuzz.test:80/base/",
            "http://"
        ])
        .prop_map(|h| format!("host = {}", quoted(h))),
        any::<bool>().prop_map(|b| format!("raw_path = {b}")),
        (value(), value()).prop_map(|(u, p)| format!(
            "auth = {{ basic = [{}, {}] }}",
            quoted(&u),
            quoted(&p)
        )),
        value().prop_map(|t| format!("auth = {{ bearer = {} }}", quoted(&t))),
        any::<bool>().prop_map(|b| format!("compressed = {b}")),
        any::<bool>().prop_map(|b| format!("follow_redirects = {b}")),
        value().prop_map(|n| format!("name = {}", quoted(&n))),
    ]
}

/// A `[[...step]]` table under `table`: a request or a sleep.
fn step(table: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (path(), prop::collection::vec(step_line(), 0..4)).prop_map(move |(p, lines)| {
            format!("[[{table}]]\npath = {}\n{}\n", quoted(&p), lines.join("\n"))
        }),
        1 => prop::sample::select(&["1s", "0s", "x", "100ms"][..])
            .prop_map(move |s| format!("[[{table}]]\nsleep = {}\n", quoted(s))),
    ]
}

/// A `[[user]]` with its keys, tasks and steps.
fn user() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        prop::sample::select(&["0", "1", "3", "100001", "4294967295"][..])
            .prop_map(|w| format!("weight = {w}")),
        prop::sample::select(&["0", "1", "2"][..]).prop_map(|c| format!("count = {c}")),
        prop::sample::select(
            &[
                "constant(1)",
                "between(1,2)",
                "between(2,1)",
                "pacing(1)",
                "x",
                "constant(-1)"
            ][..]
        )
        .prop_map(|w| format!("wait = {}", quoted(w))),
        prop::sample::select(&["f", "missing"][..]).prop_map(|f| format!("feeder = {}", quoted(f))),
        any::<bool>().prop_map(|b| format!("sequential = {b}")),
        any::<bool>().prop_map(|b| format!("cookies = {b}")),
        value().prop_map(|n| format!("name = {}", quoted(&n))),
        Just("host = \"http://fuzz.test:8080\"".to_string()),
    ];
    let task = (
        prop::option::of(prop::sample::select(&["0", "1", "7"][..])),
        prop::collection::vec(step("user.task.step"), 0..3),
    )
        .prop_map(|(weight, steps)| {
            let weight = weight
                .map(|w| format!("weight = {w}\n"))
                .unwrap_or_default();
            format!("[[user.task]]\n{weight}{}", steps.concat())
        });
    (
        prop::collection::vec(key, 0..3),
        prop::collection::vec(step("user.on_start"), 0..2),
        prop::collection::vec(task, 0..3),
    )
        .prop_map(|(keys, on_start, tasks)| {
            format!(
                "[[user]]\n{}\n{}{}",
                keys.join("\n"),
                on_start.concat(),
                tasks.concat()
            )
        })
}

/// A whole scenario file.
fn scenario() -> impl Strategy<Value = String> {
    let top = prop_oneof![
        Just("host = \"http://127.0.0.1:8080\"".to_string()),
        Just("users = 3".to_string()),
        Just("run_time = \"5s\"".to_string()),
        Just("feeders = { f = { file = \"rows.csv\", mode = \"cycle\" } }".to_string()),
        Just("thresholds = { \"GET /\" = \"p95 < 1s\" }".to_string()),
        Just("thresholds = { x = \"nonsense\" }".to_string()),
    ];
    (
        prop::collection::vec(top, 0..3),
        value(),
        value(),
        prop::collection::vec(step("setup"), 0..2),
        prop::collection::vec(user(), 0..3),
    )
        .prop_map(|(top, v, w, setup, users)| {
            format!(
                "{}\nvars = {{ v = {}, w = {} }}\n{}{}",
                top.join("\n"),
                quoted(&v),
                quoted(&w),
                setup.concat(),
                users.concat()
            )
        })
}

/// The run's target: 127.0.0.1, with `fuzz.test` resolved to it.
fn target() -> TargetUrl {
    let mut target = crate::config::parse_url("http://127.0.0.1:8080", None).unwrap();
    target.resolve = vec![("fuzz.test".into(), vec![IpAddr::from([127, 0, 0, 1])])];
    target
}

/// True when compiling `url` resolves no name: an IP literal, `fuzz.test`,
/// or no http(s) URL at all (refused before any lookup).
fn offline(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return true;
    };
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host),
    };
    host.parse::<IpAddr>().is_ok() || host.eq_ignore_ascii_case("fuzz.test")
}

/// True when every host the compiler would resolve is `offline`.
fn hosts_offline(doc: &ScenarioDoc) -> bool {
    let file = &doc.file;
    let steps = file.setup.iter().chain(file.user.iter().flat_map(|u| {
        let u = u.get_ref();
        u.on_start
            .iter()
            .chain(&u.on_stop)
            .chain(u.task.iter().flat_map(|t| &t.get_ref().step))
    }));
    let user_hosts = file.user.iter().filter_map(|u| u.get_ref().host.as_ref());
    steps
        .filter_map(|s| s.get_ref().host.as_ref())
        .chain(user_hosts)
        .all(|h| offline(h.get_ref()))
}

/// Parses and, when no name would be resolved, compiles `text`; a failure
/// must be one line naming a line of the file.
fn load(text: &str) -> Result<Option<Plan>, TestCaseError> {
    let lines = text.lines().count() + 1;
    let rows = BTreeMap::from([(
        "f".to_string(),
        (
            vec!["a".to_string()],
            vec![vec!["r\r\n1".to_string()], vec![String::new()]],
        ),
    )]);
    let checked = |err: super::ScenarioError| -> Result<Option<Plan>, TestCaseError> {
        let line = err.to_string();
        prop_assert!(
            err.line <= lines,
            "line {} of {}: {}",
            err.line,
            lines,
            line
        );
        prop_assert_eq!(line.lines().count(), 1, "{}", line);
        Ok(None)
    };
    let doc = match ScenarioDoc::parse_str(Path::new("fuzz.toml"), text.to_string()) {
        Ok(doc) => doc.with_feeder_rows(rows),
        Err(err) => return checked(err),
    };
    if !hosts_offline(&doc) {
        return Ok(None);
    }
    match doc.compile(&target()) {
        Ok(plan) => Ok(Some(plan)),
        Err(err) => checked(err),
    }
}

/// Every request step of a plan.
fn requests(plan: &Plan) -> Vec<&super::super::RequestStep> {
    let classes = plan.classes.iter().flat_map(|c| {
        c.on_start
            .iter()
            .chain(&c.on_stop)
            .chain(c.tasks.iter().flat_map(|t| &t.steps))
    });
    plan.setup
        .iter()
        .chain(classes)
        .filter_map(|s| match s {
            Step::Request(r) => Some(&**r),
            Step::Sleep(_) => None,
        })
        .collect()
}

/// Renders `template` with `vars`.
fn render(
    template: &Template,
    vars: &[Option<Vec<u8>>],
    seed: u64,
) -> Result<Vec<u8>, RenderError> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut ctx = RenderCtx {
        vars,
        user_id: seed,
        iteration: seed / 3,
        rng: &mut rng,
    };
    let mut out = Vec::new();
    template.render(&mut ctx, &mut out).map(|()| out)
}

/// Checks that `head`, rendered with `vars`, has the lines it has with
/// harmless values and no line break or NUL of its own; a refusal names
/// a slot that is unset or holds what it refuses.
fn check_head(head: &Template, vars: &[Option<Vec<u8>>], seed: u64) -> Result<(), TestCaseError> {
    let harmless: Vec<Option<Vec<u8>>> = vars.iter().map(|_| Some(b"x".to_vec())).collect();
    let lines_of = |bytes: &[u8]| bytes.windows(2).filter(|w| w == b"\r\n").count();
    let expected = render(head, &harmless, seed).map(|h| lines_of(&h));
    match render(head, vars, seed) {
        Ok(bytes) => {
            prop_assert_eq!(Ok(lines_of(&bytes)), expected);
            let bare = bytes.iter().enumerate().any(|(i, &b)| {
                b == 0
                    || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n'))
                    || (b == b'\n' && (i == 0 || bytes[i - 1] != b'\r'))
            });
            prop_assert!(!bare, "{:?}", String::from_utf8_lossy(&bytes));
        }
        Err(RenderError::Unset(slot)) => prop_assert!(vars[slot].is_none()),
        Err(RenderError::Unsafe(slot)) => {
            let value = vars[slot].as_deref().unwrap_or_default();
            prop_assert!(value.iter().any(|b| matches!(b, b'\r' | b'\n' | 0 | b' ')));
        }
    }
    Ok(())
}

/// Variable values: plain, escaped, or what would split a request.
fn var_value() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::weighted(
        0.9,
        prop::collection::vec(prop::sample::select(PIECES), 0..3)
            .prop_map(|p| p.concat().into_bytes()),
    )
}

/// Decodes `%XX` escapes, leaving a `%` without two hex digits as it is;
/// with `plus`, `+` is a space.
fn percent_decode(bytes: &[u8], plus: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
            (b'+', ..) if plus => out.push(b' '),
            (b, ..) => out.push(b),
        }
        i += 1;
    }
    out
}

proptest! {
    #![proptest_config(config(1_500))]

    /// Generated scenario files compile or fail with one line; every
    /// request of a compiled plan renders with any values without a value
    /// adding a line to the request head.
    #[test]
    fn fuzz_scenario_compiles_and_renders(
        text in scenario(),
        values in prop::collection::vec(var_value(), 0..8),
        seed in any::<u64>(),
    ) {
        let Some(plan) = load(&text)? else { return Ok(()) };
        let mut vars = plan.initial_vars.clone();
        for (slot, value) in values.into_iter().enumerate().take(vars.len()) {
            vars[slot] = value;
        }
        for step in requests(&plan) {
            check_head(&step.head, &vars, seed)?;
            let _ = render(&step.body, &vars, seed);
        }
        let mut plan = plan;
        let _ = plan.reweight("a=1, b=0, =3, c");
    }

    /// The same files with characters changed never panic the loader.
    #[test]
    fn fuzz_scenario_mutated(
        text in scenario(),
        edits in prop::collection::vec(
            (any::<usize>(), prop::sample::select(&["", "[", "]", "{", "}", "\"", "'", "=", ",", "\n", "#", ".", "$", " ", "0", "a", "\\", "[[user]]\n"][..])),
            1..6,
        ),
    ) {
        let mut text = text;
        for (at, with) in edits {
            let mut at = at % (text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let end = text[at..].chars().next().map_or(at, |c| at + c.len_utf8());
            text.replace_range(at..end, with);
        }
        load(&text)?;
    }
}

proptest! {
    #![proptest_config(config(10_000))]

    /// `${v}` alone, under each escape, writes a value so that decoding it
    /// gives the value back (a valid `%XX` in a path or query value counts
    /// as already encoded), and refuses only what would split a header or
    /// a raw path.
    #[test]
    fn fuzz_template_escapes_round_trip(
        value in prop::collection::vec(prop_oneof![any::<u8>(), prop::sample::select(&b"%4aA+ \r\n\0\"\\"[..])], 0..24),
        escape in prop::sample::select(vec![Escape::Raw, Escape::RawPath, Escape::Path, Escape::Query, Escape::Form, Escape::Json, Escape::Header]),
    ) {
        let template = Template::parse_escaped("${v}", &mut |n| (n == "v").then_some(0), escape).unwrap();
        let rendered = render(&template, &[Some(value.clone())], 1);
        if !escape.allows(&value) {
            prop_assert_eq!(rendered, Err(RenderError::Unsafe(0)));
            return Ok(());
        }
        let out = rendered.unwrap();
        let mut direct = Vec::new();
        escape_into(&mut direct, &value, escape);
        prop_assert_eq!(&out, &direct);
        match escape {
            Escape::Raw | Escape::RawPath | Escape::Header => prop_assert_eq!(&out, &value),
            Escape::Path | Escape::Query => {
                prop_assert!(out.iter().all(|b| b.is_ascii_graphic() && *b != b'#'));
                prop_assert_eq!(percent_decode(&out, false), percent_decode(&value, false));
            }
            Escape::Form => {
                prop_assert!(out.iter().all(|b| b.is_ascii_alphanumeric() || b"-_.~%+".contains(b)));
                prop_assert_eq!(percent_decode(&out, true), value);
            }
            Escape::Json => {
                if let Ok(text) = std::str::from_utf8(&value) {
                    let quoted = format!("\"{}\"", String::from_utf8(out).unwrap());
                    let back: String = serde_json::from_str(&quoted).unwrap();
                    prop_assert_eq!(back, text);
                }
            }
        }
    }

    /// Any template text compiles or is refused with a reason; a compiled
    /// one renders with any values (set, unset or hostile), its random
    /// integers within their bounds, and a literal-only one renders as
    /// written with `$${` read as `${`.
    #[test]
    fn fuzz_template_parse_and_render(
        pieces in prop::collection::vec(prop::sample::select(PIECES), 0..6),
        escape in prop::sample::select(vec![Escape::Raw, Escape::Path, Escape::Query, Escape::Form, Escape::Json, Escape::Header]),
        values in prop::collection::vec(var_value(), 2),
        seed in any::<u64>(),
    ) {
        let text = pieces.concat();
        let resolve = &mut |n: &str| ["v", "w"].iter().position(|v| *v == n);
        let Ok(template) = Template::parse_escaped(&text, resolve, escape) else { return Ok(()) };
        let rendered = render(&template, &values, seed);
        if let Err(RenderError::Unset(slot) | RenderError::Unsafe(slot)) = rendered {
            prop_assert!(slot < 2);
        }
        if let Some(fixed) = template.as_static() {
            prop_assert_eq!(rendered.as_deref(), Ok(fixed));
            if escape == Escape::Raw && !text.contains("${env.") {
                let unescaped = text.replace("$${", "${");
                prop_assert_eq!(fixed, unescaped.as_bytes());
            }
        }
        let base64 = Template::base64(template.clone());
        let _ = render(&base64, &values, seed);
    }
}
