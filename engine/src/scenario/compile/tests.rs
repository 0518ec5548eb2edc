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
