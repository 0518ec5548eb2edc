//! Property and fuzz tests of response parsing: the head parser and its
//! framing rules (`response`) against a reference model written from RFC
//! 9112 section 6.3, at every split point of the input, and the chunked
//! decoder (`chunked`), whose outcome must not depend on how the bytes are
//! cut into reads. Random and mutated bytes never panic either.
//!
//! Budgets and the long-run command: `crate::fuzz` and docs/testing.md.

use proptest::prelude::*;

use super::chunked::ChunkedDecoder;
use super::failure::Failure;
use super::response::{parse_head, BodyFraming, Head, HeadCache, HeadParse, MAX_HEADERS_CAP};
use crate::fuzz::config;

/// One generated header line.
#[derive(Debug, Clone)]
struct Field {
    name: String,
    value: String,
}

/// A generated response head and what follows it.
#[derive(Debug, Clone)]
struct Response {
    http10: bool,
    status: u16,
    reason: String,
    fields: Vec<Field>,
    /// Bytes after the head (a body, or the next response).
    after: Vec<u8>,
}

impl Response {
    /// The head's bytes, through the blank line.
    fn head(&self) -> Vec<u8> {
        let version = if self.http10 { "HTTP/1.0" } else { "HTTP/1.1" };
        let mut text = format!("{version} {} {}\r\n", self.status, self.reason);
        for field in &self.fields {
            text.push_str(&format!("{}: {}\r\n", field.name, field.value));
        }
        text.push_str("\r\n");
        text.into_bytes()
    }

    /// What RFC 9112 says of this head, written independently of
    /// `parse_head`: the failure, or the framing and keep-alive.
    fn model(&self, max_headers: usize, request_was_head: bool) -> Result<Head, Failure> {
        if self.fields.len() > max_headers.min(MAX_HEADERS_CAP) {
            return Err(Failure::TooManyHeaders);
        }
        let named = |name: &'static str| {
            self.fields
                .iter()
                .filter(move |f| f.name.eq_ignore_ascii_case(name))
                .map(|f| f.value.trim())
        };
        let mut length = None;
        for value in named("content-length") {
            let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
            let parsed = value.parse::<u64>().ok().filter(|_| digits);
            match (parsed, length) {
                (None, _) => return Err(Failure::BadContentLength),
                (Some(n), Some(seen)) if n != seen => return Err(Failure::BadContentLength),
                (Some(n), _) => length = Some(n),
            }
        }
        let last_coding = named("transfer-encoding").next_back().map(|v| {
            v.rsplit(',')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
        let tokens: Vec<String> = named("connection")
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .collect();
        let no_body = request_was_head || matches!(self.status, 100..=199 | 204 | 304);
        let framing = match (no_body, last_coding.as_deref(), length) {
            (true, _, _) => BodyFraming::None,
            (_, Some("chunked"), _) => BodyFraming::Chunked,
            (_, Some(_), _) => BodyFraming::UntilClose,
            (_, None, Some(n)) => BodyFraming::Length(n),
            (_, None, None) => BodyFraming::UntilClose,
        };
        let persistent = !self.http10 || tokens.iter().any(|t| t == "keep-alive");
        Ok(Head {
            status: self.status,
            head_len: self.head().len(),
            framing,
            // A 101 switches protocols, and Transfer-Encoding with
            // Content-Length is not trusted with another request.
            keep_alive: persistent
                && !tokens.iter().any(|t| t == "close")
                && framing != BodyFraming::UntilClose
                && self.status != 101
                && !(last_coding.is_some() && length.is_some()),
        })
    }
}

/// `name` with each letter's case chosen by `mask`'s bits.
fn recase(name: &str, mask: u32) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask >> (i % 32) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

fn field() -> impl Strategy<Value = Field> {
    let length = prop_oneof![
        4 => (0u64..100_000).prop_map(|n| n.to_string()),
        1 => Just("18446744073709551615".to_string()),
        1 => Just("18446744073709551616".to_string()),
        1 => Just("99999999999999999999999".to_string()),
        1 => "[-+ 0-9a-z]{0,6}",
    ];
    let coding = prop::sample::select(vec![
        "chunked",
        "gzip, chunked",
        "chunked, gzip",
        "gzip",
        "identity",
        "CHUNKED",
        "x,chunked ",
        "",
    ]);
    let connection = prop::sample::select(vec![
        "close",
        "keep-alive",
        "Keep-Alive, Upgrade",
        "upgrade",
        "close, keep-alive",
        " CLOSE ",
        "",
    ]);
    let known = prop_oneof![
        length.prop_map(|v| ("Content-Length", v)),
        coding.prop_map(|v| ("Transfer-Encoding", v.to_string())),
        connection.prop_map(|v| ("Connection", v.to_string())),
    ];
    prop_oneof![
        2 => (known, any::<u32>()).prop_map(|((name, value), mask)| Field {
            name: recase(name, mask),
            value,
        }),
        1 => ("[A-Za-z][A-Za-z0-9-]{0,11}", "[!-~]([ -~]{0,20}[!-~])?")
            .prop_map(|(name, value)| Field { name, value }),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    let status = prop_oneof![
        prop::sample::select(vec![100u16, 101, 103, 200, 204, 304, 404, 500]),
        100u16..1000,
    ];
    (
        any::<bool>(),
        status,
        "[A-Za-z ]{0,12}",
        prop::collection::vec(field(), 0..8),
        prop::collection::vec(any::<u8>(), 0..16),
    )
        .prop_map(|(http10, status, reason, fields, after)| Response {
            http10,
            status,
            reason,
            fields,
            after,
        })
}

/// A generated chunked body: its bytes, the data it carries, and bytes after it.
#[derive(Debug, Clone)]
struct ChunkedBody {
    bytes: Vec<u8>,
    data: Vec<u8>,
    after: Vec<u8>,
}

fn chunked_body() -> impl Strategy<Value = ChunkedBody> {
    let chunk = (
        prop::collection::vec(any::<u8>(), 1..40),
        any::<bool>(),
        0usize..3,
        prop::option::of("[ \t;][ -~]{0,10}"),
    );
    let trailer = "[A-Za-z-]{1,8}: [ -~]{0,10}";
    (
        prop::collection::vec(chunk, 0..6),
        prop::option::of("[ \t;][ -~]{0,10}"),
        prop::collection::vec(trailer, 0..3),
        prop::collection::vec(any::<u8>(), 0..8),
    )
        .prop_map(|(chunks, last_ext, trailers, after)| {
            let mut bytes = Vec::new();
            let mut data = Vec::new();
            for (chunk, upper, zeros, ext) in chunks {
                let size = format!("{}{:x}", "0".repeat(zeros), chunk.len());
                let size = if upper { size.to_uppercase() } else { size };
                bytes.extend_from_slice(size.as_bytes());
                bytes.extend_from_slice(ext.unwrap_or_default().as_bytes());
                bytes.extend_from_slice(b"\r\n");
                bytes.extend_from_slice(&chunk);
                bytes.extend_from_slice(b"\r\n");
                data.extend_from_slice(&chunk);
            }
            bytes.extend_from_slice(format!("0{}\r\n", last_ext.unwrap_or_default()).as_bytes());
            for trailer in trailers {
                bytes.extend_from_slice(format!("{trailer}\r\n").as_bytes());
            }
            bytes.extend_from_slice(b"\r\n");
            ChunkedBody { bytes, data, after }
        })
}

/// Feeds `input` to a fresh decoder in pieces of the given sizes (cycled),
/// stopping at the end of the body; returns (consumed, done) and the data
/// handed over, or the failure.
fn decode_in_pieces(input: &[u8], pieces: &[usize]) -> Result<(usize, bool, Vec<u8>), Failure> {
    let mut decoder = ChunkedDecoder::new();
    let mut data = Vec::new();
    let mut at = 0;
    let mut sizes = pieces.iter().copied().cycle();
    // Every piece is at least one byte, so this ends within input.len() turns.
    while at < input.len() {
        let size = sizes.next().unwrap_or(input.len()).max(1);
        let piece = &input[at..(at + size).min(input.len())];
        let fed = decoder.feed_with(piece, |d| data.extend_from_slice(d))?;
        assert!(fed.consumed <= piece.len(), "consumed more than given");
        at += fed.consumed;
        if fed.done {
            return Ok((at, true, data));
        }
        assert_eq!(
            fed.consumed,
            piece.len(),
            "stopped early without being done"
        );
    }
    Ok((at, false, data))
}

/// Up to `len_max` bytes, half of them from `alphabet`, made from a seed:
/// a byte-by-byte strategy costs more per case than the parsing it feeds.
fn biased_bytes(len_max: usize, alphabet: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    (0..=len_max, any::<u64>()).prop_map(move |(len, seed)| {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..len)
            .map(|_| {
                if rng.bool() {
                    alphabet[rng.usize(..alphabet.len())]
                } else {
                    rng.u8(..)
                }
            })
            .collect()
    })
}

/// Applies byte flips at positions (wrapping) to `bytes`.
fn flip(mut bytes: Vec<u8>, flips: &[(usize, u8)]) -> Vec<u8> {
    for &(at, mask) in flips {
        if !bytes.is_empty() {
            let at = at % bytes.len();
            bytes[at] ^= mask;
        }
    }
    bytes
}

proptest! {
    #![proptest_config(config(1_500))]

    /// A generated head parses as the RFC 9112 model says, whatever body
    /// follows it; every proper prefix is partial (or already the same
    /// failure), and the head cache answers each exactly as parsing does.
    #[test]
    fn fuzz_parse_head_every_split(
        response in response(),
        max_headers in prop_oneof![Just(64usize), 0usize..10, Just(1_000)],
        request_was_head in any::<bool>(),
    ) {
        let head = response.head();
        let model = response.model(max_headers, request_was_head);
        let mut input = head.clone();
        input.extend_from_slice(&response.after);
        let parsed = parse_head(&input, max_headers, request_was_head);
        prop_assert_eq!(parsed, model.map(HeadParse::Complete), "{:?}", String::from_utf8_lossy(&head));
        let cache = HeadCache::default();
        prop_assert_eq!(cache.parse(&input, max_headers, request_was_head), parsed);
        for split in 0..head.len() {
            let prefix = &input[..split];
            let partial = parse_head(prefix, max_headers, request_was_head);
            let fine = partial == Ok(HeadParse::Partial) || (partial.is_err() && partial == parsed);
            prop_assert!(fine, "prefix {:?}: {:?}, whole: {:?}", String::from_utf8_lossy(prefix), partial, parsed);
            prop_assert_eq!(cache.parse(prefix, max_headers, request_was_head), partial);
        }
    }

    /// A generated chunked body decodes to its data and ends exactly at its
    /// last CRLF however it is cut into reads; a decoder fed bytes past the
    /// end leaves them alone.
    #[test]
    fn fuzz_chunked_any_split(
        body in chunked_body(),
        pieces in prop::collection::vec(1usize..64, 1..8),
    ) {
        let mut input = body.bytes.clone();
        input.extend_from_slice(&body.after);
        let expected = Ok((body.bytes.len(), true, body.data.clone()));
        prop_assert_eq!(decode_in_pieces(&input, &pieces), expected.clone());
        prop_assert_eq!(decode_in_pieces(&input, &[input.len()]), expected.clone());
        prop_assert_eq!(decode_in_pieces(&input, &[1]), expected);
    }

    /// A chunked body with bytes flipped decodes, stops or fails the same
    /// way however it is cut into reads.
    #[test]
    fn fuzz_chunked_mutated_split_invariant(
        body in chunked_body(),
        flips in prop::collection::vec((any::<usize>(), 1u8..=255), 1..4),
        pieces in prop::collection::vec(1usize..64, 1..8),
    ) {
        let input = flip(body.bytes, &flips);
        let whole = decode_in_pieces(&input, &[input.len()]);
        prop_assert_eq!(decode_in_pieces(&input, &pieces), whole.clone());
        prop_assert_eq!(decode_in_pieces(&input, &[1]), whole);
    }
}

proptest! {
    #![proptest_config(config(30_000))]

    /// Random bytes (often behind a status line) never panic the head
    /// parser; a complete head ends with a blank line inside the input, and
    /// the head cache agrees with parsing.
    #[test]
    fn fuzz_parse_head_random_bytes(
        prefixed in any::<bool>(),
        bytes in biased_bytes(200, b"\r\n: "),
        max_headers in 0usize..200,
    ) {
        let mut input = if prefixed { b"HTTP/1.1 200 OK\r\n".to_vec() } else { Vec::new() };
        input.extend_from_slice(&bytes);
        let parsed = parse_head(&input, max_headers, false);
        if let Ok(HeadParse::Complete(head)) = parsed {
            prop_assert!(head.head_len <= input.len());
            prop_assert!(input[..head.head_len].ends_with(b"\n"));
        }
        prop_assert_eq!(HeadCache::default().parse(&input, max_headers, false), parsed);
    }

    /// Random bytes never panic the chunked decoder, and its outcome does
    /// not depend on how they are cut into reads.
    #[test]
    fn fuzz_chunked_random_bytes(
        bytes in biased_bytes(120, b"\r\n0a;"),
        pieces in prop::collection::vec(1usize..16, 1..4),
    ) {
        let whole = decode_in_pieces(&bytes, &[bytes.len()]);
        prop_assert_eq!(decode_in_pieces(&bytes, &pieces), whole);
    }
}
