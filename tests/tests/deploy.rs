//! The Dockerfile, docker-compose.yml and Kubernetes manifests parse and run
//! the commands and flags this build understands (images cannot be built
//! here; the same commands run as plain processes in distributed.rs).

use std::process::Command;

use serde::Deserialize;
use serde_yaml::Value;
use stampede_tests::{bin, repo_file};

fn yaml_docs(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(repo_file(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{path}: {e}")))
        .collect()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `stampede <args> --help` parses, proving every flag in the args exists.
fn assert_flags_exist(args: &[String]) {
    let subcommand = &args[0];
    let help = Command::new(bin("stampede"))
        .args([subcommand.as_str(), "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for arg in &args[1..] {
        if let Some(flag) = arg.strip_prefix("--") {
            let name = flag.split('=').next().unwrap();
            assert!(
                help.contains(&format!("--{name}")),
                "`stampede {subcommand}` has no --{name}"
            );
        }
    }
}

/// The compose file runs a coordinator, scalable workers and the target, with matching addresses and token.
#[test]
fn compose_file_runs_coordinator_workers_and_target() {
    let compose = &yaml_docs("docker-compose.yml")[0]["services"];
    let coordinator = strings(&compose["coordinator"]["command"]);
    let worker = strings(&compose["worker"]["command"]);
    assert_eq!(coordinator[0], "coordinator");
    assert_eq!(worker[0], "worker");
    assert_flags_exist(&coordinator);
    assert_flags_exist(&worker);
    assert!(coordinator.contains(&"--bind=0.0.0.0:5557".to_string()));
    assert!(worker.contains(&"--coordinator=coordinator:5557".to_string()));
    assert_eq!(
        compose["coordinator"]["environment"]["STAMPEDE_TOKEN"],
        compose["worker"]["environment"]["STAMPEDE_TOKEN"]
    );
    assert!(
        compose["coordinator"]["environment"]["STAMPEDE_EXPECT_WORKERS"]
            .as_str()
            .is_some()
    );
    assert_eq!(compose["target"]["entrypoint"][0], "stampede-target");
    let target = strings(&compose["target"]["command"]);
    let scenario = coordinator
        .iter()
        .find_map(|a| a.strip_prefix("--scenario=/"))
        .expect("a scenario");
    assert!(
        repo_file(scenario).exists(),
        "{scenario} is not in the repository"
    );
    let accounts = target
        .iter()
        .find(|a| a.ends_with(".csv"))
        .unwrap()
        .trim_start_matches('/');
    assert!(repo_file(accounts).exists());
}

/// The Kubernetes manifests: a coordinator Job and Service, workers that reach it, replicas matching --expect-workers.
#[test]
fn kubernetes_manifests_agree() {
    let coordinator = yaml_docs("deploy/k8s/coordinator.yaml");
    let workers = yaml_docs("deploy/k8s/workers.yaml");
    let config = yaml_docs("deploy/k8s/configmap.yaml");
    let service = coordinator
        .iter()
        .find(|d| d["kind"] == "Service")
        .expect("a Service");
    let job = coordinator
        .iter()
        .find(|d| d["kind"] == "Job")
        .expect("a Job");
    let deployment = &workers[0];
    assert_eq!(deployment["kind"], "Deployment");
    let job_args = strings(&job["spec"]["template"]["spec"]["containers"][0]["args"]);
    let worker_args = strings(&deployment["spec"]["template"]["spec"]["containers"][0]["args"]);
    assert_flags_exist(&job_args);
    assert_flags_exist(&worker_args);
    let expect: u64 = job_args
        .iter()
        .find_map(|a| a.strip_prefix("--expect-workers="))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(deployment["spec"]["replicas"].as_u64(), Some(expect));
    let port = service["spec"]["ports"][0]["port"].as_u64().unwrap();
    let name = service["metadata"]["name"].as_str().unwrap();
    assert!(
        worker_args.contains(&format!("--coordinator={name}:{port}")),
        "{worker_args:?}"
    );
    assert!(job_args.contains(&format!("--bind=0.0.0.0:{port}")));
    let map = config.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
    let scenario = job_args
        .iter()
        .find_map(|a| a.strip_prefix("--scenario=/scenario/"))
        .unwrap();
    let text = map["data"][scenario]
        .as_str()
        .expect("the scenario is in the ConfigMap");
    let path = stampede_tests::temp_file("k8s.toml", text);
    let check = Command::new(bin("stampede"))
        .args([
            "run",
            "-f",
            path.to_str().unwrap(),
            "--host",
            "http://127.0.0.1:9",
            "-n",
            "0",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(
        stderr.contains("--iterations"),
        "the scenario parsed and only -n 0 was refused: {stderr}"
    );
}

/// The Dockerfile builds both binaries and starts stampede.
#[test]
fn dockerfile_builds_both_binaries() {
    let text = std::fs::read_to_string(repo_file("Dockerfile")).unwrap();
    assert!(text.contains("-p stampede-engine") && text.contains("-p stampede-target"));
    assert!(text.contains("ENTRYPOINT [\"stampede\"]"));
}
