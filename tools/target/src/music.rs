//! The emulated music-library API (Navidrome-style) for scenario tests: login
//! with a JSON body, session tokens, a generated catalogue of songs and
//! albums, and playlists that can be created and deleted. One `Music` is
//! shared by every shard; it owns the accounts, the login counters and the
//! playlists, and renders each answer's JSON body. Finding the request's
//! headers and framing the HTTP response is `app`'s business.
//!
//! Tokens need no shared table: a token is the login's sequence number, the
//! user's index and a SipHash tag of both under a key chosen at start, so any
//! shard checks one without a lock and a forged or altered one fails. They
//! stay valid until the server stops. These routes allocate a little per
//! request; they are for scenario tests, not for the `/` hot path.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::accounts::{self, AccountsError};
use crate::routes::{self, Api};

/// The songs `GET /api/song` returns when `_end` is absent.
pub const SONGS_PAGE_DEFAULT: u64 = 10;

/// The most songs one `GET /api/song` returns, whatever `_start` and `_end` ask.
pub const SONGS_PAGE_MAX: u64 = 500;

/// The albums in the catalogue; song N belongs to album `(N - 1) / 10 % ALBUMS + 1`.
pub const ALBUMS: u64 = 5;

/// The most playlists alive at once; creating more answers 503.
pub const PLAYLISTS_MAX: usize = 1_000_000;

/// The cookie that carries the session token.
pub const SESSION_COOKIE: &str = "nd_session";

/// The header that carries `Bearer TOKEN` (matched case-insensitively).
pub const AUTH_HEADER: &str = "x-nd-authorization";

/// The length of a token: 16 hex digits of sequence, 8 of user, 16 of tag.
pub const TOKEN_LEN: usize = 40;

/// What every playlist id starts with; 16 hex digits follow.
const PLAYLIST_PREFIX: &str = "pl-";

/// An odd multiplier that spreads consecutive playlist numbers over the whole
/// id space (a bijection, so ids stay unique) so a client cannot pass by guessing "1".
const PLAYLIST_SPREAD: u64 = 0x9e37_79b9_7f4a_7c15;

/// The shared state of the emulated API.
pub struct Music {
    /// Usernames and passwords in the order given; a user's index is its id.
    accounts: Vec<(String, String)>,
    /// Username to index into `accounts`.
    by_name: HashMap<String, u32>,
    /// Successful logins per account, for `/__stats`.
    logins: Box<[AtomicU64]>,
    /// Numbers the logins, so every token differs.
    login_seq: AtomicU64,
    /// The key that tags tokens, fixed for this server's life.
    key: RandomState,
    /// The live playlists, by number; shared by all shards, touched only by playlist routes.
    playlists: Mutex<HashSet<u64>>,
    /// Numbers the playlists ever created.
    playlist_seq: AtomicU64,
}

/// A session token: `TOKEN_LEN` lower-case hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token([u8; TOKEN_LEN]);

impl Token {
    /// The token as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

/// The request parts the API reads.
pub struct ApiRequest<'a> {
    /// The query string after `?`, or empty.
    pub query: &'a str,
    /// The request headers.
    pub headers: &'a [httparse::Header<'a>],
    /// The request body.
    pub body: &'a [u8],
}

/// How an API request was answered; the JSON body is in the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The new session, for `Set-Cookie`, after a successful login.
    pub session: Option<Token>,
    /// The `Allow` value of a 405.
    pub allow: Option<&'static str>,
}

impl Answer {
    fn status(status: u16) -> Answer {
        Answer {
            status,
            session: None,
            allow: None,
        }
    }
}

/// Parses the text after `/api/playlist/` into a playlist number, or `None`
/// if it is not `pl-` and 16 hex digits.
pub fn parse_playlist_id(text: &str) -> Option<u64> {
    let hex = text.strip_prefix(PLAYLIST_PREFIX)?;
    (hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u64::from_str_radix(hex, 16).ok())
        .flatten()
}

impl Music {
    /// The API for these accounts (none is fine: every login then fails).
    pub fn new(accounts: &[(String, String)]) -> Result<Music, AccountsError> {
        accounts::validate(accounts)?;
        let by_name = (0u32..)
            .zip(accounts)
            .map(|(i, (u, _))| (u.clone(), i))
            .collect();
        Ok(Music {
            accounts: accounts.to_vec(),
            by_name,
            logins: accounts.iter().map(|_| AtomicU64::new(0)).collect(),
            login_seq: AtomicU64::new(0),
            key: RandomState::new(),
            playlists: Mutex::new(HashSet::new()),
            playlist_seq: AtomicU64::new(0),
        })
    }

    /// Answers one API request, writing its JSON body to `out`.
    pub fn answer(&self, api: Api, req: &ApiRequest<'_>, out: &mut Vec<u8>) -> Answer {
        match api {
            Api::WrongMethod(allow) => {
                out.extend_from_slice(br#"{"error": "method not allowed"}"#);
                return Answer {
                    allow: Some(allow),
                    ..Answer::status(405)
                };
            }
            Api::Login => return self.login(req.body, out),
            _ => {}
        }
        if self.session(req.headers).is_none() {
            out.extend_from_slice(br#"{"error": "unauthorized"}"#);
            return Answer::status(401);
        }
        match api {
            Api::Songs => match page(req.query) {
                Some((start, end)) => {
                    songs(start, end, out);
                    Answer::status(200)
                }
                None => {
                    out.extend_from_slice(br#"{"error": "_start and _end must be whole numbers"}"#);
                    Answer::status(400)
                }
            },
            Api::Albums => {
                albums(out);
                Answer::status(200)
            }
            Api::PlaylistCreate => self.create_playlist(req.body, out),
            Api::PlaylistDelete(id) => self.delete_playlist(id, out),
            Api::Login | Api::WrongMethod(_) => Answer::status(500),
        }
    }

    /// The user a request's session belongs to: from `x-nd-authorization:
    /// Bearer TOKEN` or the `nd_session` cookie, whichever is valid.
    pub fn session(&self, headers: &[httparse::Header<'_>]) -> Option<u32> {
        headers.iter().find_map(|header| {
            let value = std::str::from_utf8(header.value).ok()?;
            if header.name.eq_ignore_ascii_case(AUTH_HEADER) {
                let (scheme, token) = value.trim().split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| self.verify(token.trim()))
                    .flatten()
            } else if header.name.eq_ignore_ascii_case("cookie") {
                value.split(';').find_map(|pair| {
                    let (name, token) = pair.trim().split_once('=')?;
                    (name.trim() == SESSION_COOKIE)
                        .then(|| self.verify(token.trim()))
                        .flatten()
                })
            } else {
                None
            }
        })
    }

    /// The user index a token was issued to, if the token is genuine.
    pub fn verify(&self, token: &str) -> Option<u32> {
        if token.len() != TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let seq = u64::from_str_radix(&token[..16], 16).ok()?;
        let user = u32::from_str_radix(&token[16..24], 16).ok()?;
        let tag = u64::from_str_radix(&token[24..], 16).ok()?;
        ((user as usize) < self.accounts.len() && tag == self.tag(seq, user)).then_some(user)
    }

    /// Successful logins of `username` since start or the last reset.
    pub fn logins_of(&self, username: &str) -> u64 {
        self.by_name
            .get(username)
            .map_or(0, |&i| self.logins[i as usize].load(Ordering::Relaxed))
    }

    /// Every account with its login count, in account order.
    pub fn logins(&self) -> impl Iterator<Item = (&str, u64)> + '_ {
        self.accounts
            .iter()
            .zip(self.logins.iter())
            .map(|((name, _), n)| (name.as_str(), n.load(Ordering::Relaxed)))
    }

    /// Zeroes the login counters (tokens and playlists stay).
    pub fn reset_counters(&self) {
        for n in self.logins.iter() {
            n.store(0, Ordering::Relaxed);
        }
    }

    /// Playlists alive now.
    pub fn playlists(&self) -> usize {
        self.lock_playlists().len()
    }

    fn login(&self, body: &[u8], out: &mut Vec<u8>) -> Answer {
        let Some((username, password)) = parse_login(body) else {
            out.extend_from_slice(
                br#"{"error": "expected a JSON object with string fields username and password"}"#,
            );
            return Answer::status(400);
        };
        let user = self
            .by_name
            .get(&username)
            .copied()
            .filter(|&i| self.accounts[i as usize].1 == password);
        let Some(user) = user else {
            out.extend_from_slice(br#"{"error": "invalid credentials"}"#);
            return Answer::status(401);
        };
        self.logins[user as usize].fetch_add(1, Ordering::Relaxed);
        let seq = self.login_seq.fetch_add(1, Ordering::Relaxed) + 1;
        let token = self.token(seq, user);
        let _ = write!(
            out,
            "{{\"token\": \"{}\", \"id\": \"u{}\", \"name\": ",
            token.as_str(),
            u64::from(user) + 1
        );
        push_json_str(out, &username);
        out.push(b'}');
        Answer {
            session: Some(token),
            ..Answer::status(200)
        }
    }

    fn create_playlist(&self, body: &[u8], out: &mut Vec<u8>) -> Answer {
        let blank = body.iter().all(u8::is_ascii_whitespace);
        if !blank && serde_json::from_slice::<serde_json::Value>(body).is_err() {
            out.extend_from_slice(br#"{"error": "the body is not JSON"}"#);
            return Answer::status(400);
        }
        let seq = self.playlist_seq.fetch_add(1, Ordering::Relaxed) + 1;
        let id = seq.wrapping_mul(PLAYLIST_SPREAD);
        {
            let mut playlists = self.lock_playlists();
            if playlists.len() >= PLAYLISTS_MAX {
                out.extend_from_slice(br#"{"error": "too many playlists"}"#);
                return Answer::status(503);
            }
            playlists.insert(id);
        }
        let _ = write!(out, "{{\"id\": \"{PLAYLIST_PREFIX}{id:016x}\"}}");
        Answer::status(200)
    }

    fn delete_playlist(&self, id: Option<u64>, out: &mut Vec<u8>) -> Answer {
        if id.is_some_and(|id| self.lock_playlists().remove(&id)) {
            out.extend_from_slice(b"{}");
            Answer::status(200)
        } else {
            out.extend_from_slice(br#"{"error": "playlist not found"}"#);
            Answer::status(404)
        }
    }

    fn lock_playlists(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        // A panic elsewhere while holding the lock cannot leave a set half-changed.
        self.playlists.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn token(&self, seq: u64, user: u32) -> Token {
        let mut text = [0u8; TOKEN_LEN];
        let mut cursor = std::io::Cursor::new(&mut text[..]);
        // 16 + 8 + 16 hex digits fill the array exactly.
        let _ = write!(cursor, "{seq:016x}{user:08x}{:016x}", self.tag(seq, user));
        Token(text)
    }

    fn tag(&self, seq: u64, user: u32) -> u64 {
        let mut hasher = self.key.build_hasher();
        hasher.write_u64(seq);
        hasher.write_u32(user);
        hasher.finish()
    }
}

/// The username and password of a login body, or `None` unless it is a JSON
/// object whose `username` and `password` are strings (other fields are ignored).
pub fn parse_login(body: &[u8]) -> Option<(String, String)> {
    let serde_json::Value::Object(mut fields) = serde_json::from_slice(body).ok()? else {
        return None;
    };
    let mut take = |name: &str| match fields.remove(name) {
        Some(serde_json::Value::String(text)) => Some(text),
        _ => None,
    };
    Some((take("username")?, take("password")?))
}

/// `_start` and `_end` from a query string: the songs `start..end`, at most
/// `SONGS_PAGE_MAX` of them; `None` if either is present but not a number.
pub fn page(query: &str) -> Option<(u64, u64)> {
    let (mut start, mut end) = (None, None);
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "_start" => start = Some(routes::parse_decimal(value)?),
            "_end" => end = Some(routes::parse_decimal(value)?),
            _ => {}
        }
    }
    let start = start.unwrap_or(0);
    let end = end.unwrap_or(start.saturating_add(SONGS_PAGE_DEFAULT));
    let len = end.saturating_sub(start).min(SONGS_PAGE_MAX);
    Some((start, start + len))
}

/// The JSON list of songs `start..end` (0-based; song at position P has id `s{P+1}`).
fn songs(start: u64, end: u64, out: &mut Vec<u8>) {
    out.push(b'[');
    for position in start..end {
        if position > start {
            out.extend_from_slice(b", ");
        }
        let n = position + 1;
        let album = album_of(n);
        let _ = write!(
            out,
            "{{\"id\": \"s{n}\", \"title\": \"Song {n}\", \"albumId\": \"a{album}\", \
             \"album\": \"Album {album}\", \"artist\": \"Artist {album}\", \"duration\": {}}}",
            120 + n % 180
        );
    }
    out.push(b']');
}

/// The JSON list of every album.
fn albums(out: &mut Vec<u8>) {
    out.push(b'[');
    for n in 1..=ALBUMS {
        if n > 1 {
            out.extend_from_slice(b", ");
        }
        let _ = write!(
            out,
            "{{\"id\": \"a{n}\", \"name\": \"Album {n}\", \"artist\": \"Artist {n}\", \"songCount\": 10}}"
        );
    }
    out.push(b']');
}

fn album_of(song: u64) -> u64 {
    (song - 1) / 10 % ALBUMS + 1
}

/// Appends `text` as a JSON string, quoted and escaped.
pub fn push_json_str(out: &mut Vec<u8>, text: &str) {
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(out, text);
}

#[cfg(test)]
mod tests {
    //! The API without sockets: login, tokens, the session check, the
    //! catalogue pages and the playlist life cycle, with the bad inputs.
    use super::*;

    fn music() -> Music {
        let accounts = [("alice", "alice-pw"), ("bob", "b\"ob")]
            .iter()
            .map(|(u, p)| (u.to_string(), p.to_string()))
            .collect::<Vec<_>>();
        Music::new(&accounts).unwrap()
    }

    fn call(
        music: &Music,
        api: Api,
        headers: &[httparse::Header<'_>],
        body: &[u8],
    ) -> (Answer, serde_json::Value) {
        call_query(music, api, "", headers, body)
    }

    fn call_query(
        music: &Music,
        api: Api,
        query: &str,
        headers: &[httparse::Header<'_>],
        body: &[u8],
    ) -> (Answer, serde_json::Value) {
        let mut out = Vec::new();
        let req = ApiRequest {
            query,
            headers,
            body,
        };
        let answer = music.answer(api, &req, &mut out);
        let json = serde_json::from_slice(&out)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)));
        (answer, json)
    }

    fn bearer(token: &str) -> String {
        format!("Bearer {token}")
    }

    fn login(music: &Music, username: &str, password: &str) -> Token {
        let body = serde_json::json!({"username": username, "password": password}).to_string();
        let (answer, json) = call(music, Api::Login, &[], body.as_bytes());
        assert_eq!(answer.status, 200, "{json}");
        let token = answer.session.unwrap();
        assert_eq!(json["token"], token.as_str());
        assert_eq!(json["name"], username);
        token
    }

    #[test]
    fn login_bodies_are_parsed_robustly() {
        let ok = |u: &str, p: &str| Some((u.to_string(), p.to_string()));
        type Case<'a> = (&'a [u8], Option<(String, String)>);
        let cases: &[Case] = &[
            (
                br#"{"username": "alice", "password": "pw"}"#,
                ok("alice", "pw"),
            ),
            (
                b" {\n\"password\":\"p\\u00e9\",\"username\":\"a\\\"b\", \"extra\": [1, {}]}\n",
                ok("a\"b", "p\u{e9}"),
            ),
            (br#"{"username": "alice"}"#, None),
            (br#"{"username": "alice", "password": 7}"#, None),
            (br#"{"username": null, "password": "pw"}"#, None),
            (br#"["alice", "pw"]"#, None),
            (br#"{"username": "alice", "password": "pw""#, None),
            (br#"{"username": "alice", "password": "pw"} x"#, None),
            (b"", None),
            (b"\xff\xfe", None),
        ];
        for (body, want) in cases {
            assert_eq!(
                &parse_login(body),
                want,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn login_succeeds_counts_and_fails() {
        let music = music();
        let first = login(&music, "alice", "alice-pw");
        let second = login(&music, "alice", "alice-pw");
        assert_ne!(first, second, "every login gets its own token");
        login(&music, "bob", "b\"ob");
        let (answer, json) = call(
            &music,
            Api::Login,
            &[],
            br#"{"username": "alice", "password": "nope"}"#,
        );
        assert_eq!((answer.status, answer.session), (401, None));
        assert_eq!(json, serde_json::json!({"error": "invalid credentials"}));
        let (answer, _) = call(
            &music,
            Api::Login,
            &[],
            br#"{"username": "carol", "password": "x"}"#,
        );
        assert_eq!(answer.status, 401);
        let (answer, _) = call(&music, Api::Login, &[], b"username=alice");
        assert_eq!(answer.status, 400);
        assert_eq!(
            (
                music.logins_of("alice"),
                music.logins_of("bob"),
                music.logins_of("carol")
            ),
            (2, 1, 0)
        );
        let logins: Vec<_> = music.logins().collect();
        assert_eq!(logins, [("alice", 2), ("bob", 1)]);
        music.reset_counters();
        assert_eq!(music.logins_of("alice"), 0);
        assert_eq!(
            music.verify(first.as_str()),
            Some(0),
            "tokens outlive a reset"
        );
    }

    #[test]
    fn login_ids_and_names() {
        let music = music();
        let body = br#"{"username": "bob", "password": "b\"ob"}"#;
        let (_, json) = call(&music, Api::Login, &[], body);
        assert_eq!(
            (json["id"].as_str(), json["name"].as_str()),
            (Some("u2"), Some("bob"))
        );
        assert_eq!(music.verify(json["token"].as_str().unwrap()), Some(1));
    }

    #[test]
    fn only_genuine_tokens_verify() {
        let music = music();
        let token = login(&music, "bob", "b\"ob");
        let text = token.as_str();
        assert_eq!(text.len(), TOKEN_LEN);
        assert_eq!(music.verify(text), Some(1));
        assert_eq!(music.verify(&text.to_uppercase()), Some(1));
        // Another user's index, a changed tag, a changed sequence, bad lengths.
        let other_user = format!("{}00000000{}", &text[..16], &text[24..]);
        let mut bad_tag = text.to_string();
        bad_tag.replace_range(39.., if text.ends_with('0') { "1" } else { "0" });
        let bad_seq = format!("{:016x}{}", 999, &text[16..]);
        for forged in [
            other_user.as_str(),
            &bad_tag,
            &bad_seq,
            &text[..39],
            "",
            "tok-alice-1",
            &"z".repeat(40),
        ] {
            assert_eq!(music.verify(forged), None, "{forged}");
        }
        // A token from another server (another key) is refused.
        assert_eq!(self::music().verify(text), None);
    }

    #[test]
    fn sessions_come_from_the_header_or_the_cookie() {
        let music = music();
        let token = login(&music, "alice", "alice-pw");
        let good_bearer = bearer(token.as_str());
        let good_cookie = format!("theme=dark; {SESSION_COOKIE}={}; x=y", token.as_str());
        let lower = format!("bearer  {}", token.as_str());
        // The same token with its last tag digit changed.
        let text = token.as_str();
        let last = if text.ends_with('0') { "1" } else { "0" };
        let bad_cookie = format!("{SESSION_COOKIE}={}{last}", &text[..TOKEN_LEN - 1]);
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<u32>);
        let cases: &[Case] = &[
            (&[("X-ND-Authorization", &good_bearer)], Some(0)),
            (&[("x-nd-authorization", &lower)], Some(0)),
            (&[("Cookie", &good_cookie)], Some(0)),
            (
                &[("Cookie", &bad_cookie), ("cookie", &good_cookie)],
                Some(0),
            ),
            (
                &[
                    ("x-nd-authorization", "Bearer nope"),
                    ("Cookie", &good_cookie),
                ],
                Some(0),
            ),
            (&[("x-nd-authorization", token.as_str())], None),
            (&[("Authorization", &good_bearer)], None),
            (&[("Cookie", &bad_cookie)], None),
            (&[], None),
        ];
        for (fields, want) in cases {
            let headers: Vec<_> = fields
                .iter()
                .map(|(name, value)| httparse::Header {
                    name,
                    value: value.as_bytes(),
                })
                .collect();
            assert_eq!(music.session(&headers), *want, "{fields:?}");
        }
    }

    #[test]
    fn api_routes_need_a_session() {
        let music = music();
        for api in [
            Api::Songs,
            Api::Albums,
            Api::PlaylistCreate,
            Api::PlaylistDelete(Some(1)),
        ] {
            let (answer, json) = call(&music, api, &[], b"{}");
            assert_eq!(answer.status, 401, "{api:?}");
            assert_eq!(json, serde_json::json!({"error": "unauthorized"}));
        }
        let (answer, _) = call(&music, Api::WrongMethod("POST"), &[], b"");
        assert_eq!((answer.status, answer.allow), (405, Some("POST")));
    }

    #[test]
    fn song_pages_follow_start_and_end() {
        let cases: &[(&str, Option<(u64, u64)>)] = &[
            ("", Some((0, 10))),
            ("_start=0&_end=3", Some((0, 3))),
            ("_sort=title&_end=25&_order=ASC&_start=20", Some((20, 25))),
            ("_start=30", Some((30, 40))),
            ("_start=0&_end=100000", Some((0, 500))),
            ("_start=9&_end=3", Some((9, 9))),
            ("_start=18446744073709551615", Some((u64::MAX, u64::MAX))),
            ("_start=x", None),
            ("_end=-1", None),
            ("_end=", None),
        ];
        for (query, want) in cases {
            assert_eq!(page(query), *want, "{query}");
        }
        let music = music();
        let token = login(&music, "alice", "alice-pw");
        let auth = bearer(token.as_str());
        let headers = [httparse::Header {
            name: AUTH_HEADER,
            value: auth.as_bytes(),
        }];
        let (answer, json) = call_query(&music, Api::Songs, "_start=9&_end=12", &headers, b"");
        assert_eq!(answer.status, 200);
        let songs = json.as_array().unwrap();
        let ids: Vec<_> = songs.iter().map(|s| s["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["s10", "s11", "s12"]);
        assert_eq!(
            (songs[0]["albumId"].as_str(), songs[1]["albumId"].as_str()),
            (Some("a1"), Some("a2"))
        );
        assert!(songs[0]["title"].is_string());
        let (_, json) = call_query(&music, Api::Songs, "", &headers, b"");
        assert_eq!(json.as_array().unwrap().len(), 10);
        let (_, json) = call_query(&music, Api::Songs, "_end=1000", &headers, b"");
        assert_eq!(json.as_array().unwrap().len(), 500);
        let (answer, _) = call_query(&music, Api::Songs, "_end=ten", &headers, b"");
        assert_eq!(answer.status, 400);
        let (answer, json) = call(&music, Api::Albums, &headers, b"");
        assert_eq!(answer.status, 200);
        let albums = json.as_array().unwrap();
        assert_eq!(albums.len() as u64, ALBUMS);
        assert_eq!(albums[0]["id"], "a1");
    }

    #[test]
    fn playlists_are_created_and_deleted_once() {
        let music = music();
        let token = login(&music, "alice", "alice-pw");
        let cookie = format!("{SESSION_COOKIE}={}", token.as_str());
        let headers = [httparse::Header {
            name: "Cookie",
            value: cookie.as_bytes(),
        }];
        let (answer, json) = call(&music, Api::PlaylistCreate, &headers, br#"{"name": "mix"}"#);
        assert_eq!(answer.status, 200);
        let id = json["id"].as_str().unwrap().to_string();
        let (answer, second) = call(&music, Api::PlaylistCreate, &headers, b"");
        assert_eq!(answer.status, 200);
        assert_ne!(second["id"].as_str(), Some(id.as_str()));
        assert_eq!(music.playlists(), 2);
        let number = parse_playlist_id(&id).expect("ids parse back");
        let (answer, json) = call(&music, Api::PlaylistDelete(Some(number)), &headers, b"");
        assert_eq!((answer.status, json), (200, serde_json::json!({})));
        let (answer, json) = call(&music, Api::PlaylistDelete(Some(number)), &headers, b"");
        assert_eq!(
            (answer.status, json),
            (404, serde_json::json!({"error": "playlist not found"}))
        );
        let (answer, _) = call(&music, Api::PlaylistDelete(None), &headers, b"");
        assert_eq!(answer.status, 404);
        let (answer, _) = call(&music, Api::PlaylistCreate, &headers, b"{not json");
        assert_eq!(answer.status, 400);
        assert_eq!(music.playlists(), 1);
    }

    #[test]
    fn playlist_ids_parse_only_in_their_format() {
        assert_eq!(parse_playlist_id("pl-00000000000000ff"), Some(255));
        assert_eq!(parse_playlist_id("pl-FFFFFFFFFFFFFFFF"), Some(u64::MAX));
        for bad in [
            "",
            "pl-",
            "pl-ff",
            "pl-+0000000000000ff",
            "00000000000000ff",
            "pl-00000000000000fff",
        ] {
            assert_eq!(parse_playlist_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn no_accounts_means_no_logins() {
        let music = Music::new(&[]).unwrap();
        let (answer, _) = call(
            &music,
            Api::Login,
            &[],
            br#"{"username": "a", "password": "b"}"#,
        );
        assert_eq!(answer.status, 401);
        assert_eq!(music.logins().count(), 0);
        let bad = [(String::new(), "pw".to_string())];
        assert!(Music::new(&bad).is_err());
    }
}
