//! The chaos routes that misbehave in time or framing, for testing how a
//! client copes: `/drip/N?ms=M` (N body bytes, one every M ms),
//! `/badchunk` (an invalid chunk-size line), `/cut/N` (Content-Length N,
//! half of it, then close), `/silence` (reads the request, never answers)
//! and `/stall?p=P&ms=M` (with probability P the answer waits M ms).
//!
//! What each sends is rendered here; the waiting (the drip's pauses, the
//! stall, the silence) is `conn`'s, as for `/delay`. A stall is decided by
//! a seeded hash of the request's number among `/stall` requests
//! ([`stalls`]), so a run of N requests stalls the same ones every time and
//! a test can count them in advance. The older hostile routes (`/garbage`,
//! `/truncated`, `/bighead`, `/reset`, `/close`, `/eof/N`) are `response`'s.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::request::RequestHead;
use crate::response::{After, Body, Reply};

/// The most bytes `/drip/N` sends (one pause each, so a long drip is slow enough).
pub const DRIP_BYTES_MAX: u64 = 10_000;

/// The pause between dripped bytes when `ms` is not given.
pub const DRIP_MS_DEFAULT: u64 = 100;

/// How long a stall lasts when `ms` is not given.
pub const STALL_MS_DEFAULT: u64 = 1_000;

/// How long `/silence` keeps a connection open at most before closing it,
/// so that a client that never gives up cannot hold the server forever.
pub const SILENCE_MS_MAX: u64 = 60_000;

/// What `/badchunk` sends: a chunked response whose first size line is not hex.
pub const BAD_CHUNK: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nnot a chunk\r\n0\r\n\r\n";

/// A probability as parts per million: `p` of `/stall`.
pub const PER_MILLION: u32 = 1_000_000;

/// The `/stall` requests seen and the stalls made, with the seed that
/// decides them; one per server, shared by its shards.
#[derive(Debug, Default)]
pub struct Stalls {
    /// `--chaos-seed`.
    seed: AtomicU64,
    /// `/stall` requests seen since start (or the last reset): the next one's number.
    requests: AtomicU64,
    /// How many of them stalled.
    stalled: AtomicU64,
}

impl Stalls {
    /// Sets the seed (at start).
    pub fn set_seed(&self, seed: u64) {
        self.seed.store(seed, Ordering::Relaxed);
    }

    /// Numbers a `/stall` request and says whether it stalls, counting it.
    pub fn next(&self, per_million: u32) -> bool {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let stall = stalls(self.seed.load(Ordering::Relaxed), n, per_million);
        if stall {
            self.stalled.fetch_add(1, Ordering::Relaxed);
        }
        stall
    }

    /// (requests, stalled), for `/__stats`.
    pub fn get(&self) -> (u64, u64) {
        (
            self.requests.load(Ordering::Relaxed),
            self.stalled.load(Ordering::Relaxed),
        )
    }

    /// Zeroes the counts, keeping the seed: numbering starts again at 0.
    pub fn reset(&self) {
        self.requests.store(0, Ordering::Relaxed);
        self.stalled.store(0, Ordering::Relaxed);
    }
}

/// Whether `/stall` request number `n` (from 0) stalls under `seed`, with
/// probability `per_million` / 1 000 000: splitmix64 of seed and number.
pub fn stalls(seed: u64, n: u64, per_million: u32) -> bool {
    let mut z = seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    z % u64::from(PER_MILLION) < u64::from(per_million)
}

/// Parses a probability written as a decimal from 0 to 1 with at most six
/// decimals (`0`, `0.25`, `1`) into parts per million.
pub fn parse_probability(text: &str) -> Option<u32> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 6 {
        return None;
    }
    let whole: u32 = whole.parse().ok().filter(|w| *w <= 1)?;
    let scale = 10u32.pow(6 - fraction.len() as u32);
    let fraction: u32 = if fraction.is_empty() {
        0
    } else {
        fraction.parse::<u32>().ok()? * scale
    };
    let per_million = whole * PER_MILLION + fraction;
    (per_million <= PER_MILLION).then_some(per_million)
}

/// Status line, `Content-Length: len` and the connection header, blank line.
fn head(out: &mut Vec<u8>, req: &RequestHead, len: u64, keep: bool) {
    out.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: ");
    out.extend_from_slice(len.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    if !keep {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if req.http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// `/drip/N`: the head only; `conn` drips the N bytes after it.
pub fn drip(out: &mut Vec<u8>, req: &RequestHead, bytes: u64) -> Reply {
    head(out, req, bytes, req.keep_alive);
    Reply {
        status: 200,
        body: Body::Done,
        after: if req.keep_alive {
            After::KeepAlive
        } else {
            After::Close
        },
    }
}

/// `/cut/N`: promises N bytes, sends the first half (rounded down), closes.
pub fn cut(out: &mut Vec<u8>, req: &RequestHead, bytes: u64) -> Reply {
    head(out, req, bytes, false);
    Reply {
        status: 200,
        body: if req.head_only {
            Body::Done
        } else {
            Body::Filler(bytes / 2)
        },
        after: After::Close,
    }
}

/// `/badchunk`: a head announcing chunks, then a size line that is not hex.
pub fn bad_chunk(out: &mut Vec<u8>) -> Reply {
    out.extend_from_slice(BAD_CHUNK);
    Reply {
        status: 200,
        body: Body::Done,
        after: After::Close,
    }
}

/// `/stall`: 200 `ok`, once `conn` has waited when the request stalls.
pub fn stall(out: &mut Vec<u8>, req: &RequestHead) -> Reply {
    head(out, req, 2, req.keep_alive);
    if !req.head_only {
        out.extend_from_slice(b"ok");
    }
    Reply {
        status: 200,
        body: Body::Done,
        after: if req.keep_alive {
            After::KeepAlive
        } else {
            After::Close
        },
    }
}

/// `/silence`: nothing at all; `conn` waits for the client to give up.
pub fn silence() -> Reply {
    Reply {
        status: 0,
        body: Body::Done,
        after: After::Silence,
    }
}

#[cfg(test)]
mod tests {
    //! The probability parser, the stall decision and what each route renders.
    use super::*;

    #[test]
    fn probabilities_parse_as_parts_per_million() {
        for (text, want) in [
            ("0", Some(0)),
            ("1", Some(PER_MILLION)),
            ("0.25", Some(250_000)),
            ("0.000001", Some(1)),
            ("1.0", Some(PER_MILLION)),
            ("1.5", None),
            ("2", None),
            ("0.0000001", None),
            ("", None),
            (".5", None),
            ("-0.5", None),
            ("0.5x", None),
            ("99999999999", None),
        ] {
            assert_eq!(parse_probability(text), want, "{text:?}");
        }
    }

    /// The decision is a function of seed and number, near its probability
    /// over many numbers, and never or always at 0 and 1.
    #[test]
    fn stalls_are_seeded_and_near_their_probability() {
        let count = |seed, p| (0..10_000).filter(|&n| stalls(seed, n, p)).count();
        assert_eq!(count(7, 0), 0);
        assert_eq!(count(7, PER_MILLION), 10_000);
        let quarter = count(7, 250_000);
        assert!((2_300..2_700).contains(&quarter), "{quarter}");
        assert_eq!(count(7, 250_000), quarter, "same seed, same stalls");
        assert_ne!(
            (0..64).map(|n| stalls(7, n, 500_000)).collect::<Vec<_>>(),
            (0..64).map(|n| stalls(8, n, 500_000)).collect::<Vec<_>>(),
            "another seed, other stalls"
        );
        let shared = Stalls::default();
        shared.set_seed(7);
        let decided: Vec<bool> = (0..100).map(|_| shared.next(250_000)).collect();
        let expected: Vec<bool> = (0..100).map(|n| stalls(7, n, 250_000)).collect();
        assert_eq!(decided, expected);
        let stalled = expected.iter().filter(|s| **s).count() as u64;
        assert_eq!(shared.get(), (100, stalled));
        shared.reset();
        assert_eq!(shared.get(), (0, 0));
        assert_eq!(
            shared.next(250_000),
            stalls(7, 0, 250_000),
            "numbering restarts"
        );
    }
}
