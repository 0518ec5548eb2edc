//! Goose's side of bench/vs_locust.sh: the flows of bench/locust/ as a Goose
//! load test, picked by `BENCH_FLOW`:
//!
//! - `music` (default): what examples/music.toml does against stampede-target.
//!   The admin logs in once before any user starts (`test_start`); each user
//!   logs in once with its own account (row `weighted_users_index` of
//!   `BENCH_ACCOUNTS`, so no two users share one), then runs the weighted
//!   tasks home 1, songs 3, albums 2, playlist 1 (create with the user's
//!   token, delete with the admin's, named `/api/playlist/[id]`).
//! - `get`: one task, `GET BENCH_PATH` (default `/`), its body read.
//!
//! `BENCH_WAIT_MIN` / `BENCH_WAIT_MAX` (seconds, default 0) are the wait
//! after each task, as Locust's `between(a, b)`. Everything else (host,
//! users, hatch rate, run time, report file) is Goose's own command line.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use goose::goose::GooseResponse;
use goose::prelude::*;
use serde_json::{json, Value};

/// The admin's token, from `test_start`, read by every user's delete.
static ADMIN_TOKEN: OnceLock<String> = OnceLock::new();

/// The listeners' accounts (`username,password` rows of `BENCH_ACCOUNTS`).
static ACCOUNTS: OnceLock<Vec<(String, String)>> = OnceLock::new();

/// Album listings slower than this count as failures (examples/music.toml's `max_ms = 40`).
const ALBUM_MAX_MS: u64 = 40;

/// A user's session: its account name and token (shared, as Goose clones
/// session data).
#[derive(Clone)]
struct Session {
    username: Arc<str>,
    token: Arc<str>,
}

fn env_secs(name: &str) -> Duration {
    let value = std::env::var(name).unwrap_or_default();
    let secs: f64 = if value.is_empty() {
        0.0
    } else {
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value} is not a number of seconds"))
    };
    Duration::from_secs_f64(secs)
}

fn load_accounts() -> Vec<(String, String)> {
    let path = std::env::var("BENCH_ACCOUNTS").unwrap_or_default();
    if path.is_empty() {
        return Vec::new();
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .skip(1) // header: username,password
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (user, pass) = line.split_once(',').expect("username,password rows");
            (user.to_string(), pass.to_string())
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), GooseError> {
    let flow = std::env::var("BENCH_FLOW").unwrap_or_else(|_| "music".into());
    let (wait_min, wait_max) = (env_secs("BENCH_WAIT_MIN"), env_secs("BENCH_WAIT_MAX"));
    let mut scenario = match flow.as_str() {
        "music" => {
            ACCOUNTS.get_or_init(load_accounts);
            scenario!("listener")
                .register_transaction(transaction!(login).set_on_start())
                .register_transaction(transaction!(home).set_name("home").set_weight(1)?)
                .register_transaction(transaction!(songs).set_name("songs").set_weight(3)?)
                .register_transaction(transaction!(albums).set_name("albums").set_weight(2)?)
                .register_transaction(transaction!(playlist).set_name("playlist").set_weight(1)?)
        }
        "get" => scenario!("get").register_transaction(transaction!(get_path)),
        other => panic!("BENCH_FLOW={other}: expected music or get"),
    };
    if !wait_max.is_zero() {
        scenario = scenario.set_wait_time(wait_min, wait_max)?;
    }
    let mut attack = GooseAttack::initialize()?.register_scenario(scenario);
    if flow == "music" {
        attack = attack.test_start(transaction!(admin_login));
    }
    attack.execute().await?;
    Ok(())
}

/// POSTs a login and returns the token, or marks the request failed.
async fn post_login(user: &mut GooseUser, username: &str, password: &str) -> Result<String, Box<TransactionError>> {
    let body = json!({"username": username, "password": password});
    let mut goose = user.post_json("/auth/login", &body).await?;
    let token = match goose.response {
        Ok(response) if response.status().as_u16() == 200 => response
            .json::<Value>()
            .await
            .ok()
            .and_then(|doc| doc.get("token").and_then(Value::as_str).map(str::to_string)),
        _ => None,
    };
    match token {
        Some(token) => Ok(token),
        None => Err(user
            .set_failure("login: no token", &mut goose.request, None, None)
            .expect_err("set_failure always returns the failure")),
    }
}

async fn admin_login(user: &mut GooseUser) -> TransactionResult {
    let token = post_login(user, "admin", "admin-pw").await?;
    let _ = ADMIN_TOKEN.set(token);
    Ok(())
}

async fn login(user: &mut GooseUser) -> TransactionResult {
    let accounts = ACCOUNTS.get().map(Vec::as_slice).unwrap_or_default();
    let Some((username, password)) = accounts.get(user.weighted_users_index).cloned() else {
        panic!(
            "user {} has no account: BENCH_ACCOUNTS has {} rows",
            user.weighted_users_index,
            accounts.len()
        );
    };
    let token = post_login(user, &username, &password).await?;
    user.set_session_data(Session {
        username: username.into(),
        token: token.into(),
    });
    Ok(())
}

/// Sends `method path` with the user's (or the admin's) bearer token and an
/// optional JSON body, named `name` in the stats.
async fn authorized(
    user: &mut GooseUser,
    method: GooseMethod,
    path: &str,
    name: &str,
    token: &str,
    body: Option<&Value>,
) -> Result<GooseResponse, Box<TransactionError>> {
    let mut builder = user
        .get_request_builder(&method, path)?
        .header("x-nd-authorization", format!("Bearer {token}"));
    if let Some(body) = body {
        builder = builder.json(body);
    }
    let request = GooseRequest::builder()
        .method(method)
        .path(path)
        .name(name)
        .set_request_builder(builder)
        .build();
    user.request(request).await
}

fn token_of(user: &GooseUser) -> Arc<str> {
    Arc::clone(&user.get_session_data_unchecked::<Session>().token)
}

async fn home(user: &mut GooseUser) -> TransactionResult {
    let goose = user.get("/").await?;
    if let Ok(response) = goose.response {
        let _ = response.bytes().await;
    }
    Ok(())
}

async fn songs(user: &mut GooseUser) -> TransactionResult {
    let token = token_of(user);
    let path = "/api/song?_start=0&_end=10";
    let mut goose = authorized(user, GooseMethod::Get, path, "/api/song", &token, None).await?;
    let ok = match goose.response {
        Ok(response) if response.status().as_u16() == 200 => {
            matches!(response.json::<Value>().await, Ok(Value::Array(_)))
        }
        _ => false,
    };
    if !ok {
        user.set_failure("songs: not a JSON array", &mut goose.request, None, None)?;
    }
    Ok(())
}

async fn albums(user: &mut GooseUser) -> TransactionResult {
    let token = token_of(user);
    let mut goose = authorized(user, GooseMethod::Get, "/api/album", "/api/album", &token, None).await?;
    if let Ok(response) = goose.response {
        let _ = response.bytes().await;
    }
    if goose.request.response_time > ALBUM_MAX_MS {
        user.set_failure("albums: slower than 40 ms", &mut goose.request, None, None)?;
    }
    Ok(())
}

async fn playlist(user: &mut GooseUser) -> TransactionResult {
    let session = user.get_session_data_unchecked::<Session>();
    let (token, owner) = (Arc::clone(&session.token), Arc::clone(&session.username));
    let counter = user.weighted_users_index;
    let body = json!({"name": format!("mix {counter}-{}", fastish_id()), "owner": &*owner});
    let mut goose =
        authorized(user, GooseMethod::Post, "/api/playlist", "/api/playlist", &token, Some(&body)).await?;
    let id = match goose.response {
        Ok(response) if matches!(response.status().as_u16(), 200 | 201) => response
            .json::<Value>()
            .await
            .ok()
            .and_then(|doc| doc.get("id").cloned()),
        _ => None,
    };
    let Some(id) = id else {
        return user.set_failure("playlist: no id", &mut goose.request, None, None);
    };
    let id = match id {
        Value::String(s) => s,
        other => other.to_string(),
    };
    let admin = ADMIN_TOKEN.get().cloned().unwrap_or_default();
    let path = format!("/api/playlist/{id}");
    let mut goose =
        authorized(user, GooseMethod::Delete, &path, "/api/playlist/[id]", &admin, None).await?;
    let ok = matches!(&goose.response, Ok(r) if r.status().as_u16() == 200);
    if let Ok(response) = goose.response {
        let _ = response.bytes().await;
    }
    if !ok {
        user.set_failure("delete: not 200", &mut goose.request, None, None)?;
    }
    Ok(())
}

/// A process-unique number for playlist names (stampede uses `${uuid}`).
fn fastish_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

async fn get_path(user: &mut GooseUser) -> TransactionResult {
    static PATH: OnceLock<String> = OnceLock::new();
    let path = PATH.get_or_init(|| std::env::var("BENCH_PATH").unwrap_or_else(|_| "/".into()));
    let goose = user.get(path).await?;
    if let Ok(response) = goose.response {
        let _ = response.bytes().await;
    }
    Ok(())
}
