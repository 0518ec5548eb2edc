//! The generated scenarios compile, with the documented endpoint names,
//! feeder modes, keys and sizes, for every operation.

use std::collections::BTreeMap;
use std::path::Path;

use super::scenario::{classes, object_rows, scenario_text, Rows, Workload, FEEDER};
use crate::config::parse_url_with;
use crate::config::s3::{Op, S3Flags, S3Options};
use crate::scenario::feeder::{Exhausted, Mode};
use crate::scenario::{Plan, ScenarioDoc, Step};

fn options(op: &str, change: impl FnOnce(&mut S3Flags)) -> S3Options {
    let mut flags = S3Flags {
        op: op.into(),
        endpoint: Some("http://127.0.0.1:9000".into()),
        bucket: Some("bench".into()),
        ..S3Flags::default()
    };
    change(&mut flags);
    S3Options::from_flags(&flags).unwrap()
}

/// Compiles `options`' scenario for `workload` with its rows.
fn compile(options: &S3Options, workload: Workload, rows: Rows) -> (String, Plan) {
    let data = object_rows(options);
    let text = scenario_text(options, workload, rows, &classes(&data));
    let mut feeders = BTreeMap::new();
    feeders.insert(FEEDER.to_string(), data);
    let doc = ScenarioDoc::parse_str(Path::new("s3.toml"), text.clone())
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .with_feeder_rows(feeders);
    // A virtual host name resolves to loopback, as --resolve would make it.
    let host = options.host_url();
    let name = host.split("://").nth(1).unwrap().split(':').next().unwrap();
    let resolve = vec![(name.to_string(), vec![std::net::Ipv4Addr::LOCALHOST.into()])];
    let target = parse_url_with(&host, None, &resolve).unwrap();
    let plan = doc
        .compile(&target)
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    (text, plan)
}

fn endpoint_names(plan: &Plan) -> Vec<String> {
    plan.endpoints
        .iter()
        .map(|(method, name)| format!("{method} {name}"))
        .collect()
}

/// put: one PUT endpoint named by the size, each row once, users stop.
#[test]
fn put_writes_each_key_once() {
    let options = options("put", |f| f.objects = Some("1000".into()));
    let (text, plan) = compile(&options, Workload::Main(Op::Put), Rows::EachOnce);
    assert_eq!(endpoint_names(&plan), ["PUT put 4KiB"]);
    let feeder = &plan.feeders[0];
    assert_eq!(
        (feeder.mode, feeder.exhausted),
        (Mode::Unique, Exhausted::Stop)
    );
    assert_eq!(feeder.rows.len(), 1000);
    assert_eq!(feeder.rows[42], ["stampede/obj-000042", "4096", "4KiB"]);
    assert!(text.contains("body_size = \"${size}\""), "{text}");
    assert!(text.contains("path = \"/bench/${key}\""), "{text}");
    let Step::Request(step) = &plan.classes[0].tasks[0].steps[0] else {
        panic!("a request step");
    };
    assert!(step.body_size.is_some() && step.fixed.is_none() && step.when.is_empty());
    assert!(plan.body_block.0.len() >= 4096);
}

/// A size distribution gives one endpoint per power-of-4 class, each step
/// run only for its class's rows; sizes follow the seed.
#[test]
fn size_distributions_name_classes() {
    let options = options("get", |f| {
        f.size = Some("1KiB..1MiB:log".into());
        f.objects = Some("500".into());
    });
    let (_, plan) = compile(&options, Workload::Main(Op::Get), Rows::EachOnce);
    assert_eq!(
        endpoint_names(&plan),
        [
            "GET get 1KiB-4KiB",
            "GET get 4KiB-16KiB",
            "GET get 16KiB-64KiB",
            "GET get 64KiB-256KiB",
            "GET get 256KiB-1MiB"
        ]
    );
    let steps = &plan.classes[0].tasks[0].steps;
    assert_eq!(steps.len(), 5);
    for step in steps {
        let Step::Request(step) = step else {
            panic!("a request step");
        };
        assert_eq!(step.when.len(), 1);
        assert!(step.expect_body_bytes.is_some());
    }
    let rows = &plan.feeders[0].rows;
    let again = object_rows(&options).1;
    assert_eq!(rows, &again);
    let seeded = object_rows(&S3Options {
        seed: 2,
        ..options.clone()
    })
    .1;
    assert_ne!(rows, &seeded);
    for row in rows {
        let size: u64 = row[1].parse().unwrap();
        assert!((1024..=1 << 20).contains(&size));
        assert_eq!(row[2], options.size.class_of(size));
    }
}

/// get with a stop cycles; ranged GETs send a Range and expect 206 and LEN bytes.
#[test]
fn ranged_gets() {
    let options = options("get", |f| {
        f.range = Some("1KiB".into());
        f.size = Some("4KiB..8KiB".into());
    });
    let (text, plan) = compile(&options, Workload::Main(Op::Get), Rows::Cycle);
    assert_eq!(plan.feeders[0].mode, Mode::Cycle);
    assert!(text.contains("Range = \"${range}\""), "{text}");
    assert!(
        text.contains("status = 206, body_bytes = \"1024\""),
        "{text}"
    );
    for row in &plan.feeders[0].rows {
        let size: u64 = row[1].parse().unwrap();
        let (a, b) = row[3]
            .strip_prefix("bytes=")
            .and_then(|r| r.split_once('-'))
            .unwrap();
        let (a, b): (u64, u64) = (a.parse().unwrap(), b.parse().unwrap());
        assert_eq!(b - a + 1, 1024);
        assert!(b < size, "{row:?}");
    }
}

/// delete, list and mixed: their endpoints and weights.
#[test]
fn delete_list_and_mixed() {
    let (_, plan) = compile(
        &options("delete", |_| {}),
        Workload::Main(Op::Delete),
        Rows::EachOnce,
    );
    assert_eq!(endpoint_names(&plan), ["DELETE delete"]);
    let (text, plan) = compile(
        &options("list", |_| {}),
        Workload::Main(Op::List),
        Rows::Cycle,
    );
    assert_eq!(endpoint_names(&plan), ["GET list"]);
    assert!(plan.feeders.is_empty());
    let Step::Request(step) = &plan.classes[0].tasks[0].steps[0] else {
        panic!("a request step");
    };
    let fixed = String::from_utf8_lossy(step.fixed.as_deref().unwrap()).to_string();
    assert!(
        fixed.starts_with("GET /bench?list-type=2&max-keys=1000&prefix=stampede%2F HTTP/1.1\r\n"),
        "{fixed}\n{text}"
    );
    let mixed = options("mixed", |f| f.mix = Some("get=6,put=3,delete=1".into()));
    let (_, plan) = compile(&mixed, Workload::Main(Op::Mixed), Rows::Cycle);
    assert_eq!(
        endpoint_names(&plan),
        ["GET get 4KiB", "PUT put 4KiB", "DELETE delete"]
    );
    let class = &plan.classes[0];
    assert_eq!(class.task_weights, [6, 9, 10]);
    // The delete task writes the key back.
    assert_eq!(class.tasks[2].steps.len(), 2);
}

/// Prepare is a put of every row once; cleanup a delete of every row once.
#[test]
fn prepare_and_cleanup() {
    let options = options("get", |f| f.objects = Some("10".into()));
    let (_, plan) = compile(&options, Workload::Prepare, Rows::EachOnce);
    assert_eq!(endpoint_names(&plan), ["PUT put 4KiB"]);
    assert_eq!(plan.feeders[0].mode, Mode::Unique);
    let (_, plan) = compile(&options, Workload::Cleanup, Rows::EachOnce);
    assert_eq!(endpoint_names(&plan), ["DELETE delete"]);
}

/// Virtual addressing and a prefix with TOML and template characters
/// still compile to the right paths.
#[test]
fn virtual_hosts_and_odd_prefixes() {
    let options = options("list", |f| {
        f.addressing = Some("virtual".into());
        f.prefix = Some("a \"b\"/${x}/".into());
    });
    let (text, plan) = compile(&options, Workload::Main(Op::List), Rows::Cycle);
    assert!(
        text.contains("host = \"http://bench.127.0.0.1:9000\""),
        "{text}"
    );
    let Step::Request(step) = &plan.classes[0].tasks[0].steps[0] else {
        panic!("a request step");
    };
    let fixed = String::from_utf8_lossy(step.fixed.as_deref().unwrap()).to_string();
    assert!(
        fixed.starts_with("GET /?list-type=2&max-keys=1000&prefix=a+%22b%22%2F%24%7Bx%7D%2F "),
        "{fixed}"
    );
}
