//! AWS Signature Version 4 for any request (`--aws-sigv4 aws:amz:REGION:SERVICE`):
//! what S3 and every S3-compatible store (MinIO, Ceph RGW, R2) require.
//!
//! [`Signer::sign`] takes a rendered HTTP/1.1 request (head, blank line,
//! body) and adds `x-amz-date`, `x-amz-content-sha256`, the session token
//! when there is one, and `Authorization`. The canonical request and the
//! string to sign are built into buffers the signer keeps, and the signing
//! key is derived once per day, so a warm signer allocates nothing. The
//! canonical form follows botocore (the tests compare signatures with it
//! byte for byte): the path and query are decoded and encoded again with
//! AWS's rules (unreserved characters kept, everything else `%XX`), S3's
//! path once and other services' twice; every header but the hop-by-hop
//! and tracing ones is signed; the payload is `UNSIGNED-PAYLOAD` unless
//! `--aws-sign-payload` asks for its SHA-256 (S3 only: other services always
//! hash the payload, and get no `x-amz-content-sha256` header).
//!
//! With `--aws-sigv4-mode query` the signature goes into the query string
//! instead, as in a presigned URL (presign.rs).

use std::fmt;
use std::ops::Range;

use ring::{digest, hmac};

mod presign;

/// Headers never signed (botocore's list): hop-by-hop, tracing, the agent.
const UNSIGNED_HEADERS: [&str; 14] = [
    "baggage",
    "connection",
    "expect",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "traceparent",
    "tracestate",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "x-amzn-trace-id",
];

/// The payload hash of an unsigned payload.
const UNSIGNED_PAYLOAD: &[u8] = b"UNSIGNED-PAYLOAD";

/// Access key, secret and optional session token. The secret never appears
/// in `Debug` output.
#[derive(Clone)]
pub struct Credentials {
    /// The access key id (`AKIA...`), sent in every `Authorization`.
    pub access_key: String,
    /// The secret access key: used to derive keys, never sent or printed.
    secret: String,
    /// A session token (temporary credentials), sent as `x-amz-security-token`.
    pub session_token: Option<String>,
}

impl Credentials {
    /// Credentials from their parts.
    pub fn new(access_key: String, secret: String, session_token: Option<String>) -> Self {
        Credentials {
            access_key,
            secret,
            session_token,
        }
    }

    /// From `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
    /// `AWS_SESSION_TOKEN`, else from the profile `AWS_PROFILE` (or
    /// `default`) of the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`
    /// or `~/.aws/credentials`).
    pub fn from_environment() -> Result<Credentials, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let (Some(access_key), Some(secret)) =
            (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
        {
            return Ok(Credentials::new(
                access_key,
                secret,
                var("AWS_SESSION_TOKEN"),
            ));
        }
        let profile = var("AWS_PROFILE").unwrap_or_else(|| "default".into());
        let file = var("AWS_SHARED_CREDENTIALS_FILE")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                var("HOME").map(|home| std::path::Path::new(&home).join(".aws").join("credentials"))
            });
        let Some(file) = file else {
            return Err(no_credentials(&profile));
        };
        let text = std::fs::read_to_string(&file).map_err(|_| no_credentials(&profile))?;
        Self::from_profile(&text, &profile)
            .ok_or_else(|| format!("{}: no profile [{profile}] with both keys", file.display()))
    }

    /// The keys of `[profile]` in a shared credentials file's text.
    fn from_profile(text: &str, profile: &str) -> Option<Credentials> {
        let mut in_profile = false;
        let (mut access_key, mut secret, mut token) = (None, None, None);
        for line in text.lines().map(str::trim) {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                in_profile = name.trim() == profile;
                continue;
            }
            let Some((key, value)) = line.split_once('=').filter(|_| in_profile) else {
                continue;
            };
            let value = Some(value.trim().to_string());
            match key.trim() {
                "aws_access_key_id" => access_key = value,
                "aws_secret_access_key" => secret = value,
                "aws_session_token" => token = value,
                _ => {}
            }
        }
        Some(Credentials::new(access_key?, secret?, token))
    }
}

fn no_credentials(profile: &str) -> String {
    format!(
        "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
         (and AWS_SESSION_TOKEN), or a profile [{profile}] in ~/.aws/credentials (AWS_PROFILE)"
    )
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("secret", &"***")
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Where a request's signature goes (`--aws-sigv4-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureLocation {
    /// `Authorization` and `x-amz-*` headers, as the SDKs send.
    Headers,
    /// Query parameters, as in a presigned URL valid for `expires_s`
    /// seconds (`X-Amz-Expires`, `--aws-sigv4-expires`).
    Query {
        /// `X-Amz-Expires`: 1 to 604800 (seven days, S3's limit).
        expires_s: u32,
    },
}

impl SignatureLocation {
    /// The longest `X-Amz-Expires` S3 accepts: seven days.
    pub const EXPIRES_S_MAX: u32 = 604_800;
    /// botocore's default `X-Amz-Expires`: one hour.
    pub const EXPIRES_S_DEFAULT: u32 = 3_600;
}

/// What a run signs with: region, service, credentials, payload hashing.
#[derive(Debug, Clone)]
pub struct SigningConfig {
    /// e.g. `us-east-1`.
    pub region: String,
    /// e.g. `s3`.
    pub service: String,
    /// The keys.
    pub credentials: Credentials,
    /// Hash bodies (`--aws-sign-payload`) instead of `UNSIGNED-PAYLOAD`.
    pub sign_payload: bool,
    /// Headers, or the query of a presigned URL.
    pub location: SignatureLocation,
}

impl SigningConfig {
    /// Parses `aws:amz:REGION:SERVICE` (curl's and oha's form).
    pub fn parse_scope(text: &str) -> Result<(String, String), String> {
        let parts: Vec<&str> = text.split(':').collect();
        match parts.as_slice() {
            ["aws", "amz", region, service] if !region.is_empty() && !service.is_empty() => {
                Ok((region.to_string(), service.to_string()))
            }
            _ => Err(format!(
                "'{text}': give aws:amz:REGION:SERVICE, e.g. aws:amz:us-east-1:s3"
            )),
        }
    }
}

/// Signs requests; one per user, its buffers reused.
pub struct Signer {
    config: std::sync::Arc<SigningConfig>,
    /// `YYYYMMDD` the signing key is for, and the key.
    key: Option<([u8; 8], hmac::Key)>,
    canonical: Vec<u8>,
    string_to_sign: Vec<u8>,
    /// Header (name, value) ranges of the request being signed.
    headers: Vec<(Range<usize>, Range<usize>)>,
    /// The header bytes last made canonical, and the block they gave
    /// (canonical headers, blank line, signed header names).
    header_raw: Vec<u8>,
    header_block: Vec<u8>,
    /// Query pairs, encoded: the bytes, and (name, value) ranges into them.
    query: Vec<u8>,
    pairs: Vec<(Range<usize>, Range<usize>)>,
    /// Decoded path or query part.
    decoded: Vec<u8>,
    /// Headers added to the request.
    added: Vec<u8>,
    /// The last fixed request signed: its key, its second (since the
    /// epoch), and the bytes it got (the same request in the same second
    /// gets them again, at the same place: before the blank line, or at the
    /// end of the target in query mode).
    cached: Option<(usize, u64, Vec<u8>)>,
}

impl Signer {
    /// A signer for `config`.
    pub fn new(config: std::sync::Arc<SigningConfig>) -> Self {
        Signer {
            config,
            key: None,
            canonical: Vec::with_capacity(512),
            string_to_sign: Vec::with_capacity(256),
            headers: Vec::with_capacity(16),
            header_raw: Vec::with_capacity(512),
            header_block: Vec::with_capacity(512),
            query: Vec::with_capacity(128),
            pairs: Vec::with_capacity(8),
            decoded: Vec::with_capacity(128),
            added: Vec::with_capacity(512),
            cached: None,
        }
    }

    /// Signs a request that never changes (a pre-encoded step), known by
    /// `key`: its signature changes only with the second, so within one
    /// second the headers signed first are added again without signing.
    pub fn sign_fixed(&mut self, request: &mut Vec<u8>, key: usize, now: std::time::SystemTime) {
        let second = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let Some(at) = self.insertion_point(request) else {
            return;
        };
        if let Some((k, s, block)) = &self.cached {
            if *k == key && *s == second {
                insert_at(request, at, block);
                return;
            }
        }
        let before = request.len();
        self.sign(request, now);
        let added = request.len() - before;
        let mut block = self.cached.take().map(|(_, _, b)| b).unwrap_or_default();
        block.clear();
        block.extend_from_slice(&request[at..at + added]);
        self.cached = Some((key, second, block));
    }

    /// Signs `request` (a whole HTTP/1.1 request) at `now`, adding the
    /// headers before its blank line. A request without a blank line is
    /// left as it is.
    pub fn sign(&mut self, request: &mut Vec<u8>, now: std::time::SystemTime) {
        self.sign_with_body(request, &[], now);
    }

    /// Signs a request whose body continues past `request` in `body` (a
    /// slice of the shared body block): with a signed payload, the hash
    /// covers `request`'s own body bytes and then `body`.
    pub fn sign_with_body(
        &mut self,
        request: &mut Vec<u8>,
        body: &[u8],
        now: std::time::SystemTime,
    ) {
        if let SignatureLocation::Query { expires_s } = self.config.location {
            return self.sign_in_query(request, body, expires_s, now);
        }
        let Some(head_end) = find(request, b"\r\n\r\n") else {
            return;
        };
        let mut stamp = [0u8; 16];
        amz_date(now, &mut stamp);
        let date: [u8; 8] = stamp[..8].try_into().expect("8 bytes");
        let mut payload_hex = [0u8; 64];
        let s3 = self.config.service == "s3";
        // Only S3 takes an unsigned payload; other services always hash it.
        let payload: &[u8] = if self.config.sign_payload || !s3 {
            let mut context = digest::Context::new(&digest::SHA256);
            context.update(&request[head_end + 4..]);
            context.update(body);
            let hash = context.finish();
            hex_into(hash.as_ref(), &mut payload_hex);
            &payload_hex
        } else {
            UNSIGNED_PAYLOAD
        };
        // The headers stampede adds, then the request's own, all signed.
        self.added.clear();
        self.added.extend_from_slice(b"x-amz-date: ");
        self.added.extend_from_slice(&stamp);
        self.added.extend_from_slice(b"\r\n");
        if s3 {
            self.added.extend_from_slice(b"x-amz-content-sha256: ");
            self.added.extend_from_slice(payload);
            self.added.extend_from_slice(b"\r\n");
        }
        if let Some(token) = &self.config.credentials.session_token {
            self.added.extend_from_slice(b"x-amz-security-token: ");
            self.added.extend_from_slice(token.as_bytes());
            self.added.extend_from_slice(b"\r\n");
        }
        // Insert them, so one pass over the head sees every header.
        insert_at(request, head_end + 2, &self.added);
        let head_end = head_end + self.added.len();
        self.canonical_request(&request[..head_end + 2], payload);
        let signature_hex = self.signature_hex(&stamp);
        // Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...
        self.added.clear();
        self.added
            .extend_from_slice(b"Authorization: AWS4-HMAC-SHA256 Credential=");
        self.added
            .extend_from_slice(self.config.credentials.access_key.as_bytes());
        self.added.push(b'/');
        write_scope(&mut self.added, &date, &self.config);
        self.added.extend_from_slice(b", SignedHeaders=");
        self.write_signed_headers();
        self.added.extend_from_slice(b", Signature=");
        self.added.extend_from_slice(&signature_hex);
        self.added.extend_from_slice(b"\r\n");
        insert_at(request, head_end + 2, &self.added);
    }

    /// Where signing inserts its bytes (one block): before the blank line,
    /// or at the end of the target in query mode; `None` when it would
    /// leave the request as it is.
    fn insertion_point(&self, request: &[u8]) -> Option<usize> {
        let head_end = find(request, b"\r\n\r\n")?;
        match self.config.location {
            SignatureLocation::Headers => Some(head_end + 2),
            SignatureLocation::Query { .. } => presign::target_end(request),
        }
    }

    /// The hex signature of the canonical request just built, at `stamp`
    /// (`YYYYMMDDTHHMMSSZ`): the string to sign, then its HMAC with the
    /// day's key.
    fn signature_hex(&mut self, stamp: &[u8; 16]) -> [u8; 64] {
        let date: [u8; 8] = stamp[..8].try_into().expect("8 bytes");
        self.string_to_sign.clear();
        self.string_to_sign.extend_from_slice(b"AWS4-HMAC-SHA256\n");
        self.string_to_sign.extend_from_slice(stamp);
        self.string_to_sign.push(b'\n');
        write_scope(&mut self.string_to_sign, &date, &self.config);
        self.string_to_sign.push(b'\n');
        let hash = digest::digest(&digest::SHA256, &self.canonical);
        let mut hash_hex = [0u8; 64];
        hex_into(hash.as_ref(), &mut hash_hex);
        self.string_to_sign.extend_from_slice(&hash_hex);
        self.derive_key(date);
        let key = &self.key.as_ref().expect("derived").1;
        let signature = hmac::sign(key, &self.string_to_sign);
        let mut signature_hex = [0u8; 64];
        hex_into(signature.as_ref(), &mut signature_hex);
        signature_hex
    }

    /// Derives the signing key for `date` when the day changed.
    fn derive_key(&mut self, date: [u8; 8]) {
        if self.key.as_ref().is_none_or(|(d, _)| *d != date) {
            let secret = format!("AWS4{}", self.config.credentials.secret);
            let mut key = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()), &date);
            for part in [
                self.config.region.as_bytes(),
                self.config.service.as_bytes(),
                b"aws4_request",
            ] {
                key = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key.as_ref()), part);
            }
            self.key = Some((date, hmac::Key::new(hmac::HMAC_SHA256, key.as_ref())));
        }
    }

    /// Builds the canonical request of `head` (request line and headers,
    /// ending in CRLF) into `self.canonical`.
    fn canonical_request(&mut self, head: &[u8], payload: &[u8]) {
        self.canonical.clear();
        let line_end = find(head, b"\r\n").unwrap_or(head.len());
        let line = &head[..line_end];
        let mut parts = line.split(|&b| b == b' ');
        let method = parts.next().unwrap_or(b"");
        let target = parts.next().unwrap_or(b"/");
        let (path, query) = match target.iter().position(|&b| b == b'?') {
            Some(i) => (&target[..i], &target[i + 1..]),
            None => (target, &b""[..]),
        };
        self.canonical.extend_from_slice(method);
        self.canonical.push(b'\n');
        // The path: decoded, then encoded (twice for services other than S3).
        self.decoded.clear();
        percent_decode_into(path, &mut self.decoded, false);
        if self.config.service == "s3" {
            aws_encode_into(&self.decoded, &mut self.canonical, true);
        } else {
            let mut once = std::mem::take(&mut self.query);
            once.clear();
            aws_encode_into(&self.decoded, &mut once, true);
            aws_encode_into(&once, &mut self.canonical, true);
            self.query = once;
        }
        self.canonical.push(b'\n');
        self.canonical_query(query);
        self.canonical.push(b'\n');
        self.canonical_headers(head, line_end + 2);
        self.canonical.extend_from_slice(payload);
    }

    /// Appends the canonical headers, a blank line and the signed header
    /// names (each line ending in `\n`) of `head`'s headers, which start at
    /// `from`. The block made for the last header bytes is kept: the same
    /// bytes (a step's requests differ in their request line, and the date
    /// changes once a second) get it again without parsing.
    fn canonical_headers(&mut self, head: &[u8], from: usize) {
        let raw = &head[from..];
        // A block is never empty; an empty one means nothing is kept yet.
        if !self.header_block.is_empty() && self.header_raw.as_slice() == raw {
            self.canonical.extend_from_slice(&self.header_block);
            return;
        }
        let block_start = self.canonical.len();
        // Headers: lower-case names, sorted, values trimmed and spaces folded.
        self.headers.clear();
        let mut at = from;
        while at < head.len() {
            let end = at + find(&head[at..], b"\r\n").unwrap_or(head.len() - at);
            let line = &head[at..end];
            if let Some(colon) = line.iter().position(|&b| b == b':') {
                let name = at..at + colon;
                let value = at + colon + 1..end;
                if !is_unsigned(&head[name.clone()]) {
                    self.headers.push((name, value));
                }
            }
            at = end + 2;
        }
        self.headers
            .sort_by(|a, b| cmp_lower(&head[a.0.clone()], &head[b.0.clone()]));
        let mut previous: Option<Range<usize>> = None;
        for (name, value) in &self.headers {
            let same = previous
                .as_ref()
                .is_some_and(|p| head[p.clone()].eq_ignore_ascii_case(&head[name.clone()]));
            if same {
                self.canonical.push(b',');
            } else {
                if previous.is_some() {
                    self.canonical.push(b'\n');
                }
                extend_lowercase(&mut self.canonical, &head[name.clone()]);
                self.canonical.push(b':');
            }
            trim_all_into(&head[value.clone()], &mut self.canonical);
            previous = Some(name.clone());
        }
        self.canonical.extend_from_slice(b"\n\n");
        let mut first = true;
        let mut previous: Option<Range<usize>> = None;
        for (name, _) in &self.headers {
            if previous
                .as_ref()
                .is_some_and(|p| head[p.clone()].eq_ignore_ascii_case(&head[name.clone()]))
            {
                continue;
            }
            if !first {
                self.canonical.push(b';');
            }
            first = false;
            extend_lowercase(&mut self.canonical, &head[name.clone()]);
            previous = Some(name.clone());
        }
        self.canonical.push(b'\n');
        self.header_raw.clear();
        self.header_raw.extend_from_slice(raw);
        self.header_block.clear();
        self.header_block
            .extend_from_slice(&self.canonical[block_start..]);
    }

    /// The canonical query string: pairs decoded, encoded, sorted, joined.
    fn canonical_query(&mut self, query: &[u8]) {
        self.query.clear();
        self.pairs.clear();
        for pair in query.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            // A `+` in a query is a space to servers (form encoding, as
            // stampede writes `query = {}` tables): canonically `%20`.
            let start = self.query.len();
            self.decoded.clear();
            percent_decode_into(name, &mut self.decoded, true);
            aws_encode_into(&self.decoded, &mut self.query, false);
            let middle = self.query.len();
            self.decoded.clear();
            percent_decode_into(value, &mut self.decoded, true);
            aws_encode_into(&self.decoded, &mut self.query, false);
            self.pairs.push((start..middle, middle..self.query.len()));
        }
        let query = &self.query;
        self.pairs.sort_by(|a, b| {
            (&query[a.0.clone()], &query[a.1.clone()])
                .cmp(&(&query[b.0.clone()], &query[b.1.clone()]))
        });
        for (i, (name, value)) in self.pairs.iter().enumerate() {
            if i > 0 {
                self.canonical.push(b'&');
            }
            self.canonical.extend_from_slice(&query[name.clone()]);
            self.canonical.push(b'=');
            self.canonical.extend_from_slice(&query[value.clone()]);
        }
    }

    /// The signed header names (from the last canonical request), into `added`.
    fn write_signed_headers(&mut self) {
        let line = self.signed_headers_range();
        self.added.extend_from_slice(&self.canonical[line]);
    }

    /// Where the signed header names (`host;x-amz-date`) of the last
    /// canonical request are in it: its second-to-last line.
    fn signed_headers_range(&self) -> Range<usize> {
        let canonical = &self.canonical;
        let end = canonical.iter().rposition(|&b| b == b'\n').unwrap_or(0);
        let start = canonical[..end]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        start..end
    }
}

/// Appends the credential scope, `YYYYMMDD/REGION/SERVICE/aws4_request`.
fn write_scope(out: &mut Vec<u8>, date: &[u8; 8], config: &SigningConfig) {
    out.extend_from_slice(date);
    out.push(b'/');
    out.extend_from_slice(config.region.as_bytes());
    out.push(b'/');
    out.extend_from_slice(config.service.as_bytes());
    out.extend_from_slice(b"/aws4_request");
}

/// True for a header name botocore leaves unsigned (or `authorization`).
fn is_unsigned(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"authorization")
        || UNSIGNED_HEADERS
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h.as_bytes()))
}

/// Compares header names without case.
fn cmp_lower(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.iter()
        .map(u8::to_ascii_lowercase)
        .cmp(b.iter().map(u8::to_ascii_lowercase))
}

/// Appends `name` in lower case.
fn extend_lowercase(out: &mut Vec<u8>, name: &[u8]) {
    let start = out.len();
    out.extend_from_slice(name);
    out[start..].make_ascii_lowercase();
}

/// Appends `value` trimmed, with runs of spaces folded into one.
fn trim_all_into(value: &[u8], out: &mut Vec<u8>) {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !blank(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |i| i + 1);
    let value = &value[start..end];
    // Most values have no tab and no two blanks in a row: copied whole.
    let plain = !value
        .windows(2)
        .any(|w| w[0] == b'\t' || (w[0] == b' ' && w[1] == b' '));
    if plain {
        out.extend_from_slice(value);
        return;
    }
    let mut space = false;
    for &b in value {
        if blank(&b) {
            space = true;
            continue;
        }
        if space {
            out.push(b' ');
            space = false;
        }
        out.push(b);
    }
}

/// Decodes `%XX` escapes (a malformed one is kept as written), and a `+`
/// as a space when `plus_is_space` (a query).
fn percent_decode_into(text: &[u8], out: &mut Vec<u8>, plus_is_space: bool) {
    let special = |b: u8| b == b'%' || (plus_is_space && b == b'+');
    let mut i = 0;
    while i < text.len() {
        // Runs with nothing to decode are copied whole.
        let run = text[i..]
            .iter()
            .position(|&b| special(b))
            .unwrap_or(text.len() - i);
        out.extend_from_slice(&text[i..i + run]);
        i += run;
        if i == text.len() {
            break;
        }
        let b = text[i];
        if b == b'%' && i + 2 < text.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(text[i + 1]), hex(text[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(if plus_is_space && b == b'+' { b' ' } else { b });
        i += 1;
    }
}

/// Encodes with AWS's rules: unreserved characters (`A-Z a-z 0-9 - _ . ~`)
/// as they are, `/` too when `keep_slash`, everything else `%XX` (upper case).
fn aws_encode_into(bytes: &[u8], out: &mut Vec<u8>, keep_slash: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let kept = |b: u8| {
        b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
    };
    let mut rest = bytes;
    loop {
        // Runs of kept characters are copied whole.
        let run = rest.iter().position(|&b| !kept(b)).unwrap_or(rest.len());
        out.extend_from_slice(&rest[..run]);
        let Some((&b, tail)) = rest[run..].split_first() else {
            return;
        };
        out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        rest = tail;
    }
}

/// Lower-case hex of `bytes` (32 of them) into `out`.
fn hex_into(bytes: &[u8], out: &mut [u8; 64]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().take(32).enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 15)];
    }
}

/// `YYYYMMDDTHHMMSSZ` of `now` (UTC).
pub fn amz_date(now: std::time::SystemTime, out: &mut [u8; 16]) {
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let digits = |out: &mut [u8], n: u64| {
        let mut n = n;
        for slot in out.iter_mut().rev() {
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    digits(&mut out[0..4], y.clamp(0, 9999) as u64);
    digits(&mut out[4..6], u64::from(m));
    digits(&mut out[6..8], u64::from(d));
    out[8] = b'T';
    digits(&mut out[9..11], rem / 3600);
    digits(&mut out[11..13], rem % 3600 / 60);
    digits(&mut out[13..15], rem % 60);
    out[15] = b'Z';
}

/// The calendar date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Inserts `bytes` at `at`: appended, then rotated into place (a memcpy
/// and a memmove of what follows, which is the body).
fn insert_at(request: &mut Vec<u8>, at: usize, bytes: &[u8]) {
    request.extend_from_slice(bytes);
    request[at..].rotate_right(bytes.len());
}

/// Where `needle` first starts in `haystack`: each place its first byte
/// is, checked for the rest.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut at = 0;
    while let Some(i) = haystack[at..].iter().position(|&b| b == first) {
        let start = at + i;
        if haystack[start + 1..].starts_with(rest) {
            return Some(start);
        }
        at = start + 1;
    }
    None
}

#[cfg(test)]
mod tests;
