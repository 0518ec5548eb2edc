//! Unit tests of scenario compilation.

use super::*;

fn target() -> TargetUrl {
    crate::config::parse_url("http://127.0.0.1:8080", None).unwrap()
}

fn compile(text: &str) -> std::result::Result<Plan, ScenarioError> {
    ScenarioDoc::parse_str(Path::new("s.toml"), text.to_string())?.compile(&target())
}

const TWO_CLASSES: &str = r#"
host = "http://127.0.0.1:8080"
users = 7
[[user]]
name = "admin"
count = 1
[[user.task]]
[[user.task.step]]
path = "/admin"
[[user]]
name = "reader"
weight = 3
cookies = false
[[user.task]]
weight = 2
[[user.task.step]]
path = "/a"
[[user.task]]
[[user.task.step]]
method = "post"
path = "/items/${id}"
name = "/items/[id]"
json = { n = "${iteration}" }
extract = { id = "json:/id" }
[[user]]
name = "writer"
[[user.task]]
[[user.task.step]]
path = "/w"
"#;

/// Classes, weights, endpoints and run settings compile as written.
#[test]
fn compiles_classes_tasks_and_endpoints() {
    let doc = ScenarioDoc::parse_str(Path::new("s.toml"), TWO_CLASSES.to_string()).unwrap();
    let settings: Vec<_> = doc.settings().into_iter().map(|(k, v, _)| (k, v)).collect();
    assert_eq!(
        settings,
        vec![
            ("host", "http://127.0.0.1:8080".to_string()),
            ("users", "7".to_string())
        ]
    );
    let plan = doc.compile(&target()).unwrap();
    let names: Vec<&str> = plan.endpoints.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["/admin", "/a", "/items/[id]", "/w"]);
    assert_eq!(plan.endpoints[2].0, "POST");
    // The fixed-count admin comes first, then readers and writers 3:1.
    let classes: Vec<usize> = (0..9).map(|u| plan.class_for(u)).collect();
    assert_eq!(classes[0], 0);
    assert_eq!(classes[1..].iter().filter(|&&c| c == 1).count(), 6);
    assert_eq!(classes[1..].iter().filter(|&&c| c == 2).count(), 2);
    let reader = &plan.classes[1];
    assert_eq!(reader.task_weights, vec![2, 3]);
    assert_eq!(
        (reader.task_for(0), reader.task_for(1), reader.task_for(2)),
        (0, 0, 1)
    );
}

/// Static requests without cookies are encoded once; templated ones are not.
#[test]
fn static_requests_are_pre_encoded() {
    let plan = compile(TWO_CLASSES).unwrap();
    let step = |class: usize, task: usize| match &plan.classes[class].tasks[task].steps[0] {
        Step::Request(r) => r.clone(),
        Step::Sleep(_) => panic!("expected a request"),
    };
    let fixed = step(1, 0).fixed.expect("static and cookie-free");
    assert!(fixed.starts_with(b"GET /a HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"));
    assert!(fixed.ends_with(b"\r\n\r\n"));
    assert!(
        step(0, 0).fixed.is_none(),
        "cookies on: the jar may add a header"
    );
    let templated = step(1, 1);
    assert!(templated.fixed.is_none());
    assert!(templated.capture_body, "a JSON extractor needs the body");
    assert_eq!(templated.extracts.len(), 1);
}

/// Errors carry file, line, column and key.
#[test]
fn errors_are_located() {
    let err = compile(
        "[[user]]\n[[user.task]]\n[[user.task.step]]\npath = \"/\"\ncheck = { status = \"6xx\" }\n",
    )
    .unwrap_err();
    assert_eq!(
        (err.line, err.key.as_str()),
        (5, "user[0].task[0].step[0].check.status")
    );
    assert_eq!(err.to_string().lines().count(), 1);
    let err =
        compile("[[user]]\nwait = \"soon\"\n[[user.task]]\n[[user.task.step]]\npath = \"/\"\n")
            .unwrap_err();
    assert_eq!(
        (err.line, err.column, err.key.as_str()),
        (2, 8, "user[0].wait")
    );
    let err = compile("users = 3\n").unwrap_err();
    assert!(err.message.contains("no [[user]]"));
    let err = compile("[[user]]\n[[user.task]]\n[[user.task.step]]\npath = \"/\"\nextract = { x = \"xpath://a\" }\n").unwrap_err();
    assert_eq!(err.key, "user[0].task[0].step[0].extract.x");
}

/// Renders the first step of the first task with `vars` set by name.
fn render_first(plan: &Plan, vars: &[(&str, &str)]) -> std::result::Result<String, String> {
    let Step::Request(step) = &plan.classes[0].tasks[0].steps[0] else {
        panic!("a request step");
    };
    let mut values = plan.initial_vars.clone();
    for (name, value) in vars {
        let slot = plan.var_names.iter().position(|n| n == name).unwrap();
        values[slot] = Some(value.as_bytes().to_vec());
    }
    let mut rng = fastrand::Rng::with_seed(1);
    let mut ctx = super::super::template::RenderCtx {
        vars: &values,
        user_id: 0,
        iteration: 0,
        rng: &mut rng,
    };
    let mut out = Vec::new();
    step.head
        .render(&mut ctx, &mut out)
        .map_err(|e| format!("{e:?}"))?;
    out.extend_from_slice(b"|");
    step.body
        .render(&mut ctx, &mut out)
        .map_err(|e| format!("{e:?}"))?;
    Ok(String::from_utf8(out).unwrap())
}

fn one_step(host: &str, step: &str) -> String {
    format!(
        "host = \"{host}\"\nvars = {{ v = \"x\" }}\n[[user]]\n[[user.task]]\n[[user.task.step]]\n{step}\n"
    )
}

fn compile_at(text: &str, host: &str) -> std::result::Result<Plan, ScenarioError> {
    let target = crate::config::parse_url(host, None).unwrap();
    ScenarioDoc::parse_str(Path::new("s.toml"), text.to_string())?.compile(&target)
}

/// Values are percent-encoded where they land: as a path before `?`, as a
/// query after it; literal text is sent as written.
#[test]
fn values_are_encoded_for_the_path_and_query() {
    let text = one_step("http://127.0.0.1:8080", r#"path = "/s/${v}/x?q=${v}&t=1""#);
    let plan = compile(&text).unwrap();
    let head = render_first(&plan, &[("v", "a b/é?&=+#%zz%41")]).unwrap();
    assert!(
        head.starts_with(
            "GET /s/a%20b/%C3%A9?&=+%23%25zz%41/x?q=a%20b/%C3%A9?%26%3D%2B%23%25zz%41&t=1 HTTP/1.1\r\n"
        ),
        "{head}"
    );
    // raw_path sends values as they are, but never a line break or space.
    let text = one_step(
        "http://127.0.0.1:8080",
        "path = \"/s/${v}\"\nraw_path = true",
    );
    let plan = compile(&text).unwrap();
    assert!(render_first(&plan, &[("v", "%7E~")])
        .unwrap()
        .starts_with("GET /s/%7E~ HTTP/1.1\r\n"));
    assert_eq!(
        render_first(&plan, &[("v", "a b")]).unwrap_err(),
        "Unsafe(0)"
    );
    // Literal text that cannot go in a request line is refused with its encoding.
    let err = compile(&one_step("http://127.0.0.1:8080", r#"path = "/a b""#)).unwrap_err();
    assert!(err.to_string().contains("write it as %20"), "{err}");
    let err = compile(&one_step("http://127.0.0.1:8080", r#"path = "/é""#)).unwrap_err();
    assert!(err.to_string().contains("%C3%A9"), "{err}");
}

/// A query table is form-encoded and appended with `?` or `&`.
#[test]
fn query_tables_are_form_encoded() {
    let text = one_step(
        "http://127.0.0.1:8080",
        "path = \"/s?a=1\"\nquery = { q = \"${v} & co\", \"k y\" = \"é\" }",
    );
    let plan = compile(&text).unwrap();
    let head = render_first(&plan, &[("v", "x=y")]).unwrap();
    assert!(
        head.starts_with("GET /s?a=1&k+y=%C3%A9&q=x%3Dy+%26+co HTTP/1.1\r\n"),
        "{head}"
    );
    let text = one_step(
        "http://127.0.0.1:8080",
        "path = \"/s\"\nquery = { q = \"1\" }",
    );
    let plan = compile(&text).unwrap();
    assert!(render_first(&plan, &[])
        .unwrap()
        .starts_with("GET /s?q=1 HTTP/1.1"));
}

/// Form bodies encode literal text and values alike; JSON bodies escape
/// values inside their strings; raw bodies send them as they are.
#[test]
fn bodies_encode_their_values() {
    let text = one_step(
        "http://127.0.0.1:8080",
        "method = \"POST\"\npath = \"/f\"\nform = { name = \"a b&${v}\", \"x y\" = \"é\" }",
    );
    let plan = compile(&text).unwrap();
    let request = render_first(&plan, &[("v", "c=d\n")]).unwrap();
    assert!(request.contains("Content-Type: application/x-www-form-urlencoded\r\n"));
    assert!(
        request.ends_with("|name=a+b%26c%3Dd%0A&x+y=%C3%A9"),
        "{request}"
    );
    let text = one_step(
        "http://127.0.0.1:8080",
        "method = \"POST\"\npath = \"/j\"\njson = { t = \"<${v}>\" }",
    );
    let plan = compile(&text).unwrap();
    let request = render_first(&plan, &[("v", "say \"hi\"\\\r\n")]).unwrap();
    let body = request.split_once('|').unwrap().1;
    let parsed: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(parsed["t"], "<say \"hi\"\\\r\n>");
}

/// A path in the host URL is put before every step path, as Locust does.
#[test]
fn host_paths_are_base_paths() {
    for host in ["http://127.0.0.1:8080/api", "http://127.0.0.1:8080/api/"] {
        let plan = compile_at(&one_step(host, "path = \"/users\""), host).unwrap();
        assert!(
            render_first(&plan, &[])
                .unwrap()
                .starts_with("GET /api/users HTTP/1.1\r\n"),
            "{host}"
        );
        // Reports keep the step's own name.
        assert_eq!(plan.endpoints[0].1, "/users");
    }
    let plan = compile_at(
        &one_step("http://127.0.0.1:8080", "path = \"/users\""),
        "http://127.0.0.1:8080/",
    )
    .unwrap();
    assert!(render_first(&plan, &[])
        .unwrap()
        .starts_with("GET /users HTTP/1.1\r\n"));
}

/// `auth` writes the Authorization header, in base64 for basic auth, once
/// at compile time when nothing in it is templated.
#[test]
fn auth_helpers_write_authorization() {
    let text = one_step(
        "http://127.0.0.1:8080",
        "path = \"/a\"\nauth = { basic = [\"alice\", \"${v}\"] }",
    );
    let plan = compile(&text).unwrap();
    let head = render_first(&plan, &[("v", "s3cret:1")]).unwrap();
    // base64("alice:s3cret:1")
    assert!(
        head.contains("Authorization: Basic YWxpY2U6czNjcmV0OjE=\r\n"),
        "{head}"
    );
    let text = one_step(
        "http://127.0.0.1:8080",
        "path = \"/a\"\nauth = { basic = [\"alice\", \"pw\"] }",
    );
    let plan = compile(&text).unwrap();
    let Step::Request(step) = &plan.classes[0].tasks[0].steps[0] else {
        panic!()
    };
    let fixed = String::from_utf8(step.head.as_static().expect("a fixed head").to_vec()).unwrap();
    assert!(
        fixed.contains("Authorization: Basic YWxpY2U6cHc=\r\n"),
        "{fixed}"
    );
    let text = one_step(
        "http://127.0.0.1:8080",
        "path = \"/a\"\nauth = { bearer = \"${v}\" }",
    );
    let plan = compile(&text).unwrap();
    assert!(render_first(&plan, &[("v", "tok")])
        .unwrap()
        .contains("Authorization: Bearer tok\r\n"));
    // A token with a line break would split the request: not sent.
    assert_eq!(
        render_first(&plan, &[("v", "tok\r\nX: y")]).unwrap_err(),
        "Unsafe(0)"
    );
    // Class-level auth applies to the class's steps.
    let text = "host = \"http://127.0.0.1:8080\"\n[[user]]\nauth = { bearer = \"t\" }\n\
                [[user.task]]\n[[user.task.step]]\npath = \"/a\"\n";
    let plan = compile(text).unwrap();
    assert!(render_first(&plan, &[])
        .unwrap()
        .contains("Authorization: Bearer t\r\n"));
    for (step, reason) in [
        (
            "auth = { basic = [\"a\"] }",
            "give [\"user\", \"password\"]",
        ),
        ("auth = { basic = [\"a:b\", \"c\"] }", "cannot contain ':'"),
        ("auth = { }", "give one of"),
        (
            "auth = { bearer = \"t\" }\nheaders = { Authorization = \"x\" }",
            "not both",
        ),
        (
            "headers = { Content-Length = \"3\" }",
            "frames the body itself",
        ),
    ] {
        let text = one_step("http://127.0.0.1:8080", &format!("path = \"/a\"\n{step}"));
        let err = compile(&text).unwrap_err().to_string();
        assert!(err.contains(reason), "{step}: {err}");
    }
}

/// `compressed` asks for compressed responses; a Host header replaces the URL's.
#[test]
fn compressed_and_host_headers() {
    let text = one_step(
        "http://127.0.0.1:8080",
        "path = \"/a\"\ncompressed = true\nheaders = { Host = \"example.com\" }",
    );
    let plan = compile(&text).unwrap();
    let head = render_first(&plan, &[]).unwrap();
    assert!(head.contains(&format!("Accept-Encoding: {ACCEPT_ENCODING}\r\n")));
    assert!(head.contains("Host: example.com\r\n"));
    assert!(!head.contains("Host: 127.0.0.1"));
}

/// `--tags` keeps the tasks carrying one of them, `--exclude-tags` drops the
/// tasks carrying one; a class left with no task gets no users, and tags
/// that leave nothing to run are an error.
#[test]
fn tags_select_tasks() {
    let text = r#"
host = "http://127.0.0.1:8080"
[[user]]
name = "shopper"
[[user.task]]
tags = ["browse"]
[[user.task.step]]
path = "/browse"
[[user.task]]
tags = ["buy", "slow"]
[[user.task.step]]
path = "/buy"
[[user.task]]
[[user.task.step]]
path = "/untagged"
[[user]]
name = "admin"
[[user.task]]
tags = ["admin"]
[[user.task.step]]
path = "/admin"
"#;
    let doc = ScenarioDoc::parse_str(Path::new("s.toml"), text.to_string()).unwrap();
    let with = |tags: &[&str], exclude: &[&str]| {
        let options = RequestOptions {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            exclude_tags: exclude.iter().map(|t| t.to_string()).collect(),
            ..RequestOptions::default()
        };
        doc.compile_with(&target(), options)
    };
    let names = |plan: &Plan| -> Vec<String> {
        plan.classes
            .iter()
            .flat_map(|c| c.tasks.iter())
            .map(|t| match &t.steps[0] {
                Step::Request(r) => plan.endpoints[r.endpoint].1.clone(),
                Step::Sleep(_) => String::new(),
            })
            .collect()
    };
    assert_eq!(
        names(&with(&[], &[]).unwrap()),
        ["/browse", "/buy", "/untagged", "/admin"]
    );
    let plan = with(&["buy", "admin"], &[]).unwrap();
    assert_eq!(names(&plan), ["/buy", "/admin"]);
    let plan = with(&[], &["slow", "admin"]).unwrap();
    assert_eq!(names(&plan), ["/browse", "/untagged"]);
    assert_eq!(plan.classes.len(), 1, "the admin class has no task left");
    assert_eq!(plan.class_cycle, vec![0]);
    let err = with(&["nothing"], &[]).unwrap_err().to_string();
    assert!(err.contains("leave no task"), "{err}");
}

/// The scenario in docs/locust.md compiles, so the guide stays true.
#[test]
fn the_locust_guide_scenario_compiles() {
    let guide = include_str!("../../../../docs/locust.md");
    let start = guide.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + guide[start..].find("```").unwrap();
    let plan = compile(&guide[start..end]).unwrap();
    assert_eq!(plan.classes[0].name, "Shopper");
    assert_eq!(plan.classes[0].tasks.len(), 2);
    assert_eq!(plan.classes[0].task_weights, vec![5, 6]);
}

/// Found by `fuzz_scenario_compiles_and_renders`: a bearer token written
/// in the file went into the request head unchecked, so a NUL (or a line
/// break, which would add a header of its own) reached the wire; a header
/// value's literal text is now refused as its variables are.
#[test]
fn header_literals_cannot_split_the_request() {
    for (line, key) in [
        (
            r#"auth = { bearer = "\u0000" }"#,
            "user[0].task[0].step[0].auth.bearer",
        ),
        (
            r#"auth = { bearer = "t\r\nX-Evil: 1" }"#,
            "user[0].task[0].step[0].auth.bearer",
        ),
        (
            r#"headers = { x-a = "a\u0000b" }"#,
            "user[0].task[0].step[0].headers.x-a",
        ),
    ] {
        let text = format!("[[user]]\n[[user.task]]\n[[user.task.step]]\npath = \"/\"\n{line}\n");
        let err = compile(&text).unwrap_err();
        assert_eq!((err.line, err.key.as_str()), (5, key), "{line}: {err}");
        assert!(err.message.contains("line break or NUL"), "{err}");
    }
}

/// Found by `fuzz_scenario_compiles_and_renders`: a key of the file holding
/// a line break (a form field named "\r\n") made the error two lines; keys
/// and messages are written with control characters escaped.
#[test]
fn errors_stay_on_one_line() {
    let text = "[[user]]\n[[user.task]]\n[[user.task.step]]\npath = \"/\"\nform = { \"\\r\\n\" = \"${undefined}\" }\n";
    let err = compile(text).unwrap_err();
    assert_eq!(err.key, "user[0].task[0].step[0].form.\r\n");
    let line = err.to_string();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(line.contains("form.\\r\\n': undefined variable"), "{line}");
}
