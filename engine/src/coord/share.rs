//! Each worker's share of one test, as the coordinator sends it: its part
//! of the users, rate, iterations and feeder rows (by cores), the settings
//! it may take, the scenario text, the setup values, and the values of the
//! `${env.NAME}` the run uses (read here, so a worker never reads its own
//! environment for them). Sending it is `remote`'s.

use std::collections::BTreeMap;

use stampede_proto::wire::{FeederRows, Prepare};

use super::coordinator::{CoordError, LOCAL_KEYS};
use super::roster::Worker;
use super::split;
use crate::config::{Load, RunConfig, Settings};
use crate::scenario::feeder::{Exhausted, Mode};
use crate::scenario::{Plan, ScenarioDoc};

/// Each worker's share of the run.
pub(super) fn prepares(
    config: &RunConfig,
    settings: &Settings,
    scenario: Option<&ScenarioDoc>,
    plan: &Plan,
    workers: &BTreeMap<u32, Worker>,
    setup_values: Vec<(String, Vec<u8>)>,
) -> Result<Vec<Prepare>, CoordError> {
    let cores: Vec<u32> = workers.values().map(|w| w.hello.cores.max(1)).collect();
    let count = cores.len();
    let users = match config.load {
        Load::Closed { users, .. } => split::by_cores(u64::from(users), &cores),
        Load::Open { .. } => vec![0; count],
    };
    if matches!(config.load, Load::Closed { .. }) && users.contains(&0) {
        return Err(CoordError::Split(format!(
            "{} users cannot be split over {count} workers",
            users.iter().sum::<u64>()
        )));
    }
    // Rows used once go to the shard that owns them: a shard without a
    // user would leave its rows unused and (with `exhausted = "stop"`) the
    // run waiting for them.
    let once = plan
        .feeders
        .iter()
        .find(|f| f.mode == Mode::Unique && f.exhausted == Exhausted::Stop);
    if let (Some(feeder), Load::Closed { .. }) = (once, &config.load) {
        let short = users.iter().zip(&cores).any(|(&u, &c)| u < u64::from(c));
        if short {
            let total: u32 = cores.iter().sum();
            return Err(CoordError::Split(format!(
                "feeder '{}' hands each row to a user of the shard that owns it, so every                  shard needs a user: give at least {total} users (the workers' cores)",
                feeder.name
            )));
        }
    }
    let bases = split::user_bases(&users);
    let env = env_values(scenario, settings)?;
    let iterations = config.iterations.map(|n| split::by_cores(n, &cores));
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let mut entries: Vec<(String, String)> = settings
            .entries()
            .into_iter()
            .filter(|(k, _)| !LOCAL_KEYS.contains(k))
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let share = |key: &str, value: String, entries: &mut Vec<(String, String)>| {
            entries.retain(|(k, _)| k != key);
            entries.push((key.to_string(), value));
        };
        let shaped = entries
            .iter()
            .any(|(k, _)| k == "stages" || k == "rate-stages");
        match config.load {
            // A shaped run takes its users or rate from the (scaled) stages.
            _ if shaped => {
                entries.retain(|(k, _)| !matches!(k.as_str(), "users" | "rate" | "spawn-rate"))
            }
            Load::Closed {
                spawn_rate_per_s, ..
            } => {
                share("users", users[i].to_string(), &mut entries);
                if let Some(rate) = spawn_rate_per_s {
                    share(
                        "spawn-rate",
                        split::rate_by_cores(rate, &cores)[i].to_string(),
                        &mut entries,
                    );
                }
            }
            Load::Open {
                rate_per_s,
                max_in_flight,
            } => {
                share(
                    "rate",
                    split::rate_by_cores(rate_per_s, &cores)[i].to_string(),
                    &mut entries,
                );
                let cap = split::by_cores(u64::from(max_in_flight), &cores)[i].max(1);
                share("max-in-flight", cap.to_string(), &mut entries);
            }
        }
        // A load shape runs on every worker, scaled to its share.
        let fraction = f64::from(cores[i]) / cores.iter().map(|&c| f64::from(c)).sum::<f64>();
        for key in ["stages", "rate-stages"] {
            if let Some((_, text)) = entries.iter_mut().find(|(k, _)| k == key) {
                let stages = crate::run::shape::parse_stages(text)
                    .map_err(|e| CoordError::Split(format!("--{key}: {e}")))?;
                *text = stages
                    .iter()
                    .map(|s| format!("{}ms:{}", s.duration.as_millis(), s.target * fraction))
                    .collect::<Vec<_>>()
                    .join(",");
            }
        }
        if entries.iter().any(|(k, _)| k == "step-users") {
            return Err(CoordError::Split(
                "step load is not supported in distributed runs yet; use --stages".into(),
            ));
        }
        if let Some(iterations) = &iterations {
            if iterations[i] == 0 {
                return Err(CoordError::Split("fewer iterations than workers".into()));
            }
            share("iterations", iterations[i].to_string(), &mut entries);
        }
        if let Some(empty) = plan
            .feeders
            .iter()
            .find(|f| f.rows.is_empty() && f.mode != Mode::Unique)
        {
            return Err(CoordError::Split(format!(
                "feeder '{}' has no rows; a cycle or random feeder needs at least one",
                empty.name
            )));
        }
        let feeders = plan
            .feeders
            .iter()
            .map(|f| FeederRows {
                name: f.name.clone(),
                columns: f.columns.clone(),
                rows: if f.mode == Mode::Unique {
                    split::unique_rows(&f.rows, count, i)
                } else {
                    f.rows.clone()
                },
            })
            .collect();
        let scenario = scenario.map(|doc| {
            let name = doc.path().file_name().map_or_else(
                || "scenario.toml".into(),
                |n| n.to_string_lossy().into_owned(),
            );
            (name, doc.source().to_string())
        });
        out.push(Prepare {
            settings: entries,
            scenario,
            feeders,
            setup_values: setup_values.clone(),
            user_base: bases[i],
            env: env.clone(),
        });
    }
    Ok(out)
}

/// The names of the `${env.NAME}` placeholders in `text` (a `$${` is a
/// literal, not a placeholder).
pub fn env_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("${env.") {
        let escaped = rest[..at].ends_with('$');
        let after = &rest[at + "${env.".len()..];
        let end = after.find('}').unwrap_or(after.len());
        let name = &after[..end];
        if !escaped && !name.is_empty() && !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
        rest = after;
    }
    names
}

/// This process's values of the `${env.NAME}` the scenario and the shipped
/// settings (`--header`, `--body`, ...) use.
fn env_values(
    scenario: Option<&ScenarioDoc>,
    settings: &Settings,
) -> Result<Vec<(String, String)>, CoordError> {
    let mut texts: Vec<String> = settings.entries().into_iter().map(|(_, v)| v).collect();
    texts.extend(scenario.map(|doc| doc.source().to_string()));
    let mut names: Vec<String> = texts.iter().flat_map(|t| env_names(t)).collect();
    names.sort();
    names.dedup();
    // A name unset here was refused when the plan compiled; one only in a
    // setting this run does not use is left out.
    Ok(names
        .into_iter()
        .filter_map(|name| std::env::var(&name).ok().map(|value| (name, value)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Placeholders are found once each; escaped ones and other text are not.
    #[test]
    fn env_names_are_the_placeholders() {
        let text = "a ${env.ONE} b $${env.LITERAL} ${env.TWO}${env.ONE} ${user_id} ${env.";
        assert_eq!(env_names(text), ["ONE", "TWO"]);
        assert!(env_names("nothing here").is_empty());
    }
}
