//! The scenario an object workload compiles to: TOML text (what
//! `--print-scenario` shows, and what a coordinator ships to its workers)
//! and the `objects` feeder's rows, made in memory from `--objects`,
//! `--size`, `--prefix`, `--range` and `--seed`. Endpoints are named in
//! object terms, one per size class (`put 4KiB`, `get 1KiB-4KiB`), plus
//! `list` and `delete`, so per-class latency is the ordinary per-endpoint
//! table. Running it is `command`'s job.

use std::fmt::Write;

use super::size::{key_of, range_offset};
use crate::config::s3::{Op, S3Options};
use crate::scenario::compile::FeederData;

/// The feeder the object steps read: `key,size,class` (and `range` with
/// `--range`), one row per object.
pub const FEEDER: &str = "objects";

/// How the object rows are handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// Each row once in the whole run; a user stops when rows run out, and
    /// the run ends when every user has.
    EachOnce,
    /// Round and round, until the run's stop (`--run-time`, `-n`).
    Cycle,
}

/// What a generated scenario runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// The operation's own run.
    Main(Op),
    /// Upload every object once before the run.
    Prepare,
    /// Delete every key once after the run.
    Cleanup,
}

/// The rows of every object, in key order.
pub fn object_rows(options: &S3Options) -> FeederData {
    let mut columns = vec!["key".to_string(), "size".into(), "class".into()];
    if options.range.is_some() {
        columns.push("range".into());
    }
    let rows = (0..options.objects)
        .map(|index| {
            let size = options.size.size_of(index, options.seed);
            let mut row = vec![
                key_of(&options.prefix, index, options.objects),
                size.to_string(),
                options.size.class_of(size),
            ];
            if let Some(len) = options.range {
                let offset = range_offset(index, options.seed, size, len);
                row.push(format!("bytes={offset}-{}", offset + len - 1));
            }
            row
        })
        .collect();
    (columns, rows)
}

/// The size classes of `rows`, smallest first.
pub fn classes(rows: &FeederData) -> Vec<String> {
    let mut classes: Vec<(u64, String)> = Vec::new();
    for row in &rows.1 {
        if !classes.iter().any(|(_, c)| *c == row[2]) {
            classes.push((row[1].parse().unwrap_or(0), row[2].clone()));
        }
    }
    classes.sort();
    classes.into_iter().map(|(_, c)| c).collect()
}

/// The scenario text of `workload`, its object rows handed out as `rows`
/// says; `classes` are the rows' size classes.
pub fn scenario_text(
    options: &S3Options,
    workload: Workload,
    rows: Rows,
    classes: &[String],
) -> String {
    let mut out = String::new();
    let what = match workload {
        Workload::Main(op) => op.name(),
        Workload::Prepare => "prepare",
        Workload::Cleanup => "cleanup",
    };
    let _ = writeln!(
        out,
        "# stampede s3 {what}: generated from the command line (docs/s3.md).\n\
         # The feeder '{FEEDER}' is made in memory: one row per object, columns\n\
         # key,size,class{}; to run this file yourself, write them to objects.csv\n\
         # (e.g. {}).",
        if options.range.is_some() {
            ",range"
        } else {
            ""
        },
        example_row(options),
    );
    let _ = writeln!(out, "host = {}\n", quoted(&options.host_url()));
    let op = match workload {
        Workload::Main(op) => op,
        Workload::Prepare => Op::Put,
        Workload::Cleanup => Op::Delete,
    };
    if op != Op::List {
        let (mode, exhausted) = match rows {
            Rows::EachOnce => ("unique", "stop"),
            Rows::Cycle => ("cycle", "continue"),
        };
        let _ = writeln!(
            out,
            "[feeders.{FEEDER}]\nfile = \"objects.csv\"\nmode = \"{mode}\"\n\
             pick = \"per_iteration\"\nexhausted = \"{exhausted}\"\n"
        );
    }
    let _ = writeln!(out, "[[user]]\nname = \"{what}\"\ncookies = false");
    if op != Op::List {
        let _ = writeln!(out, "feeder = \"{FEEDER}\"");
    }
    out.push('\n');
    match op {
        Op::Put => task(&mut out, "put", None, |out| {
            put_steps(out, options, classes)
        }),
        Op::Get => task(&mut out, "get", None, |out| {
            get_steps(out, options, classes)
        }),
        Op::Delete => task(&mut out, "delete", None, |out| delete_step(out, options)),
        Op::List => task(&mut out, "list", None, |out| list_step(out, options)),
        Op::Mixed => {
            let mix = options.mix;
            if mix.get > 0 {
                task(&mut out, "get", Some(mix.get), |out| {
                    get_steps(out, options, classes)
                });
            }
            if mix.put > 0 {
                task(&mut out, "put", Some(mix.put), |out| {
                    put_steps(out, options, classes)
                });
            }
            if mix.delete > 0 {
                // The key is written again at once, so later GETs find it.
                task(&mut out, "delete", Some(mix.delete), |out| {
                    delete_step(out, options);
                    put_steps(out, options, classes);
                });
            }
            if mix.list > 0 {
                task(&mut out, "list", Some(mix.list), |out| {
                    list_step(out, options)
                });
            }
        }
    }
    out
}

/// One `[[user.task]]` with its steps.
fn task(out: &mut String, name: &str, weight: Option<u32>, steps: impl FnOnce(&mut String)) {
    let _ = writeln!(out, "[[user.task]]\nname = \"{name}\"");
    if let Some(weight) = weight {
        let _ = writeln!(out, "weight = {weight}");
    }
    out.push('\n');
    steps(out);
}

/// A PUT per size class, the body `${size}` bytes of the shared block.
fn put_steps(out: &mut String, options: &S3Options, classes: &[String]) {
    for class in classes {
        let _ = writeln!(
            out,
            "[[user.task.step]]\nname = \"put {class}\"\nmethod = \"PUT\"\npath = {}\n\
             body_size = \"${{size}}\"\n{}check = {{ status = 200 }}\n",
            quoted(&options.object_path("${key}")),
            when(classes, class),
        );
    }
}

/// A GET per size class, checking the status and the body's length.
fn get_steps(out: &mut String, options: &S3Options, classes: &[String]) {
    let (range, status, bytes) = match options.range {
        Some(len) => ("headers = { Range = \"${range}\" }\n", 206, len.to_string()),
        None => ("", 200, "${size}".to_string()),
    };
    for class in classes {
        let _ = writeln!(
            out,
            "[[user.task.step]]\nname = \"get {class}\"\npath = {}\n{range}{}\
             check = {{ status = {status}, body_bytes = \"{bytes}\" }}\n",
            quoted(&options.object_path("${key}")),
            when(classes, class),
        );
    }
}

/// A DELETE of the row's key (S3 answers 204; some servers 200).
fn delete_step(out: &mut String, options: &S3Options) {
    let _ = writeln!(
        out,
        "[[user.task.step]]\nname = \"delete\"\nmethod = \"DELETE\"\npath = {}\n\
         check = {{ status = [200, 204] }}\n",
        quoted(&options.object_path("${key}")),
    );
}

/// A ListObjectsV2 of the prefix: its first page (up to 1000 keys).
fn list_step(out: &mut String, options: &S3Options) {
    let _ = writeln!(
        out,
        "[[user.task.step]]\nname = \"list\"\npath = {}\n\
         query = {{ list-type = \"2\", prefix = {}, max-keys = \"1000\" }}\n\
         check = {{ status = 200 }}\n",
        quoted(&options.bucket_path()),
        quoted(&options.prefix.replace("${", "$${")),
    );
}

/// `when = { class = "..." }` when there is more than one class.
fn when(classes: &[String], class: &str) -> String {
    if classes.len() > 1 {
        format!("when = {{ class = {} }}\n", quoted(class))
    } else {
        String::new()
    }
}

/// `s` as a TOML basic string.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The first object's row, as CSV, for the header comment.
fn example_row(options: &S3Options) -> String {
    let size = options.size.size_of(0, options.seed);
    let mut row = format!(
        "{},{size},{}",
        key_of(&options.prefix, 0, options.objects),
        options.size.class_of(size)
    );
    if let Some(len) = options.range {
        let offset = range_offset(0, options.seed, size, len);
        let _ = write!(row, ",bytes={offset}-{}", offset + len - 1);
    }
    row
}
