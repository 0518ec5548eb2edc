//! A tiny in-process stand-in for an S3 server, for tests of `stampede s3`
//! that need objects to exist: keep-alive HTTP/1.1 on 127.0.0.1 port 0,
//! PUT / GET (with `Range: bytes=A-B`) / DELETE of `/bucket/key`, a
//! ListObjectsV2 of `/bucket?list-type=2&prefix=P` (key count only), and
//! multipart uploads (`POST ?uploads`, `PUT ?partNumber=N&uploadId=U`,
//! `POST ?uploadId=U` whose part list must name every part's ETag). It
//! keeps each object's bytes and counts every request by operation, so a
//! test compares what arrived with what stampede reports; it also counts
//! requests by the process that sent them and by key (`by_process`,
//! `by_key`). It checks no
//! signature (it records the `Authorization` headers it saw); the real S3
//! semantics are tested against moto elsewhere.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// What the fake has seen and holds.
#[derive(Debug, Default)]
pub struct S3State {
    /// Objects by key (without the bucket).
    pub objects: BTreeMap<String, Vec<u8>>,
    /// Requests by operation: `put`, `get`, `delete`, `list`, `other`.
    pub requests: BTreeMap<&'static str, u64>,
    /// Requests by (sending process id, operation); 0 when `/proc` did not
    /// say which process held the connection.
    pub by_process: BTreeMap<(u32, &'static str), u64>,
    /// Single-object requests by (operation, key).
    pub by_key: BTreeMap<(&'static str, String), u64>,
    /// Request body bytes received.
    pub body_bytes: u64,
    /// Distinct `Authorization` values' first 80 bytes (for signing checks).
    pub authorizations: Vec<String>,
    /// GET bodies are sent one byte short (Content-Length says so too).
    pub short_gets: bool,
    /// PUTs of whole objects are answered 503 and store nothing.
    pub refuse_puts: bool,
    /// Multipart uploads in progress: upload id -> (key, parts by number).
    pub uploads: BTreeMap<String, (String, BTreeMap<u32, Vec<u8>>)>,
}

/// A running fake; its threads end with the process.
pub struct FakeS3 {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state.
    pub state: Arc<Mutex<S3State>>,
}

impl FakeS3 {
    /// Starts listening on 127.0.0.1:0.
    pub fn start() -> FakeS3 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake S3");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(S3State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let state = shared.clone();
                std::thread::spawn(move || serve(stream, addr, &state));
            }
        });
        FakeS3 { addr, state }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests of one operation so far.
    pub fn count(&self, op: &str) -> u64 {
        self.lock().requests.get(op).copied().unwrap_or(0)
    }

    /// Requests of one operation sent by process `pid` so far.
    pub fn count_from(&self, pid: u32, op: &str) -> u64 {
        let state = self.lock();
        state
            .by_process
            .iter()
            .filter(|((p, o), _)| *p == pid && *o == op)
            .map(|(_, n)| n)
            .sum()
    }

    /// The state, locked.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, S3State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Answers requests on one connection until it closes.
fn serve(stream: TcpStream, addr: SocketAddr, state: &Mutex<S3State>) {
    // The client holds its end open while it waits for the answer.
    let owner = stream
        .peer_addr()
        .ok()
        .and_then(|peer| crate::socket_owner::owner_of(peer, addr))
        .unwrap_or(0);
    let mut out = stream.try_clone().expect("clone stream");
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut headers = BTreeMap::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (status, etag, response) = answer(&method, &target, &headers, body, owner, state);
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nETag: \"{etag}\"\r\n\r\n",
            response.len()
        );
        if out.write_all(head.as_bytes()).is_err() || out.write_all(&response).is_err() {
            return;
        }
    }
}

/// The status, ETag and body for one request.
fn answer(
    method: &str,
    target: &str,
    headers: &BTreeMap<String, String>,
    body: Vec<u8>,
    owner: u32,
    state: &Mutex<S3State>,
) -> (u16, String, Vec<u8>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_string)
    };
    if let Some(answer) = multipart(method, path, query, &param, &body, owner, state) {
        return answer;
    }
    let (status, response) = object(method, target, headers, body, owner, state);
    (status, "e".into(), response)
}

/// The multipart requests, or `None` for others.
fn multipart(
    method: &str,
    path: &str,
    query: &str,
    param: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
    owner: u32,
    state: &Mutex<S3State>,
) -> Option<(u16, String, Vec<u8>)> {
    let key = path.trim_start_matches('/').split_once('/')?.1.to_string();
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    let upload = param("uploadId");
    let (op, answer) = match (method, upload, param("partNumber")) {
        ("POST", None, None) if query == "uploads" => {
            let id = format!("upload-{}", state.uploads.len() + 1);
            state.uploads.insert(id.clone(), (key, BTreeMap::new()));
            let xml = format!(
                "<InitiateMultipartUploadResult><UploadId>{id}</UploadId>\
                 </InitiateMultipartUploadResult>"
            );
            ("initiate", (200, "i".into(), xml.into_bytes()))
        }
        ("PUT", Some(id), Some(number)) => {
            state.body_bytes += body.len() as u64;
            let number: u32 = number.parse().ok()?;
            let answer = match state.uploads.get_mut(&id) {
                Some((_, parts)) => {
                    parts.insert(number, body.to_vec());
                    (200, format!("{id}-{number}"), Vec::new())
                }
                None => (404, "e".into(), b"NoSuchUpload".to_vec()),
            };
            ("part", answer)
        }
        ("POST", Some(id), None) => ("complete", complete(&mut state, &id, &key, body)),
        _ => return None,
    };
    *state.requests.entry(op).or_default() += 1;
    *state.by_process.entry((owner, op)).or_default() += 1;
    Some(answer)
}

/// Assembles an upload whose part list names every part, in order, with
/// the ETag it was given.
fn complete(state: &mut S3State, id: &str, key: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let Some((upload_key, parts)) = state.uploads.remove(id) else {
        return (404, "e".into(), b"NoSuchUpload".to_vec());
    };
    let text = String::from_utf8_lossy(body);
    let listed: Vec<&str> = text
        .split("<ETag>")
        .skip(1)
        .filter_map(|p| p.split_once("</ETag>").map(|(e, _)| e))
        .collect();
    let expected: Vec<String> = parts.keys().map(|n| format!("\"{id}-{n}\"")).collect();
    if upload_key != key || listed != expected {
        return (
            400,
            "e".into(),
            format!("InvalidPart: {listed:?}").into_bytes(),
        );
    }
    let object: Vec<u8> = parts.into_values().flatten().collect();
    state.objects.insert(upload_key, object);
    let xml = "<CompleteMultipartUploadResult><ETag>\"m\"</ETag></CompleteMultipartUploadResult>";
    (200, "m".into(), xml.as_bytes().to_vec())
}

/// The status and body of a single-object request or a listing.
fn object(
    method: &str,
    target: &str,
    headers: &BTreeMap<String, String>,
    body: Vec<u8>,
    owner: u32,
    state: &Mutex<S3State>,
) -> (u16, Vec<u8>) {
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    state.body_bytes += body.len() as u64;
    if let Some(auth) = headers.get("authorization") {
        let auth: String = auth.chars().take(80).collect();
        if !state.authorizations.contains(&auth) && state.authorizations.len() < 100 {
            state.authorizations.push(auth);
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    // `/bucket/key...`: the key is everything after the bucket.
    let key = path
        .trim_start_matches('/')
        .split_once('/')
        .map(|(_, k)| k.to_string());
    let op = match (method, &key) {
        ("PUT", Some(_)) => "put",
        ("GET", Some(_)) => "get",
        ("DELETE", Some(_)) => "delete",
        ("GET", None) if query.contains("list-type=2") => "list",
        _ => "other",
    };
    *state.requests.entry(op).or_default() += 1;
    *state.by_process.entry((owner, op)).or_default() += 1;
    let key = key.unwrap_or_default();
    if matches!(op, "put" | "get" | "delete") {
        *state.by_key.entry((op, key.clone())).or_default() += 1;
    }
    match op {
        "put" if state.refuse_puts => (503, b"SlowDown".to_vec()),
        "put" => {
            state.objects.insert(key, body);
            (200, Vec::new())
        }
        "get" => {
            let short = state.short_gets;
            let Some(object) = state.objects.get(&key) else {
                return (404, b"NoSuchKey".to_vec());
            };
            let range = headers
                .get("range")
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.split_once('-'))
                .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)));
            let (status, mut bytes) = match range {
                Some((a, b)) if a <= b && b < object.len() => (206, object[a..=b].to_vec()),
                Some(_) => return (416, Vec::new()),
                None => (200, object.clone()),
            };
            if short {
                bytes.pop();
            }
            (status, bytes)
        }
        "delete" => {
            state.objects.remove(&key);
            (204, Vec::new())
        }
        "list" => {
            let count = state.objects.len().min(1000);
            let xml = format!("<ListBucketResult><KeyCount>{count}</KeyCount></ListBucketResult>");
            (200, xml.into_bytes())
        }
        _ => (400, Vec::new()),
    }
}
