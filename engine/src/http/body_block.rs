//! The shared body block: one read-only buffer of random bytes per process,
//! from which requests with a `body_size` take their bodies as slices.
//!
//! A body of N bytes is `block[offset..offset + N]`: nothing is allocated
//! or filled per request, and the slice goes to the socket as it is (see
//! `conn`, which writes the request head from the write buffer and then the
//! slice). The block is made once, from a fixed seed, the first time a plan
//! needs it, and lives as long as the process: it is `'static` so the
//! kernel (io_uring) can own a view of it during a write. This module does
//! not decide sizes or offsets; the user rendering a request does.

use std::sync::Mutex;

/// Size of the block unless a plan needs a larger one: 64 MiB, the largest
/// body a templated `body_size` may render.
pub const DEFAULT_BLOCK_BYTES: usize = 64 << 20;

/// Seed of the block's bytes: the same bytes in every process and run.
const BLOCK_SEED: u64 = 0x5354_414d_5045_4445;

/// The block made so far (the largest asked for).
static BLOCK: Mutex<Option<&'static [u8]>> = Mutex::new(None);

/// The shared block, at least `min_len` bytes and at least
/// [`DEFAULT_BLOCK_BYTES`]. Made on the first call; a later call that needs
/// more makes a larger one (the smaller stays alive for plans holding it).
pub fn shared(min_len: usize) -> &'static [u8] {
    let mut block = BLOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match *block {
        Some(existing) if existing.len() >= min_len => existing,
        _ => {
            let made: &'static [u8] =
                Box::leak(random_bytes(min_len.max(DEFAULT_BLOCK_BYTES)).into_boxed_slice());
            *block = Some(made);
            made
        }
    }
}

/// A plan's view of the shared block (empty when no step has a
/// `body_size`); its `Debug` shows the length, not 64 MiB of bytes.
#[derive(Clone, Copy, Default)]
pub struct BodyBlock(pub &'static [u8]);

impl std::fmt::Debug for BodyBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BodyBlock({} bytes)", self.0.len())
    }
}

impl BodyBlock {
    /// The body of `len` bytes starting at a draw in `0..=len_max - len`
    /// (the draw keeps equal-sized bodies from being identical); `None`
    /// when the block is shorter than `len`.
    #[inline]
    pub fn slice(&self, len: usize, draw: &mut fastrand::Rng) -> Option<&'static [u8]> {
        let spare = self.0.len().checked_sub(len)?;
        let offset = draw.usize(..=spare);
        Some(&self.0[offset..offset + len])
    }
}

/// `len` pseudo-random bytes from the fixed seed.
fn random_bytes(len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(BLOCK_SEED);
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        bytes.extend_from_slice(&rng.u64(..).to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// Parses a rendered `body_size`: decimal digits, optionally followed by a
/// unit (`B`, `KiB`/`K`/`KB`, `MiB`/`M`/`MB`, `GiB`/`G`/`GB`, binary, as
/// `--max-body-capture` reads them). `None` for anything else or an
/// overflow. Allocates nothing: it runs per request.
pub fn parse_body_size(text: &[u8]) -> Option<u64> {
    let text = text.trim_ascii();
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 {
        return None;
    }
    let mut number: u64 = 0;
    for &b in &text[..digits] {
        number = number.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    let unit = text[digits..].trim_ascii();
    let shift = match unit.len() {
        0 => 0,
        1..=3 => match (unit[0].to_ascii_lowercase(), &unit[1..]) {
            (b'b', b"") => 0,
            (b'k', b"" | b"b" | b"B" | b"iB" | b"ib") => 10,
            (b'm', b"" | b"b" | b"B" | b"iB" | b"ib") => 20,
            (b'g', b"" | b"b" | b"B" | b"iB" | b"ib") => 30,
            _ => return None,
        },
        _ => return None,
    };
    number.checked_mul(1 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes parse with and without units; junk and overflows do not.
    #[test]
    fn body_sizes_parse() {
        assert_eq!(parse_body_size(b"4096"), Some(4096));
        assert_eq!(parse_body_size(b"0"), Some(0));
        assert_eq!(parse_body_size(b"4KiB"), Some(4096));
        assert_eq!(parse_body_size(b" 4 k "), Some(4096));
        assert_eq!(parse_body_size(b"2MB"), Some(2 << 20));
        assert_eq!(parse_body_size(b"1GiB"), Some(1 << 30));
        assert_eq!(parse_body_size(b"12B"), Some(12));
        for bad in [
            &b""[..],
            b"KiB",
            b"-1",
            b"4 KiBs",
            b"4TiB",
            b"1.5MiB",
            b"99999999999999999999",
            b"18446744073709551615G",
        ] {
            assert_eq!(
                parse_body_size(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    /// The block is made once, is deterministic, and grows only when asked.
    #[test]
    fn the_block_is_shared_and_deterministic() {
        let first = shared(1);
        assert!(first.len() >= DEFAULT_BLOCK_BYTES);
        assert_eq!(shared(1024).as_ptr(), shared(1).as_ptr());
        assert_eq!(&first[..64], &random_bytes(64)[..]);
        // Not a constant fill: many distinct byte values.
        let mut seen = [false; 256];
        first[..4096].iter().for_each(|&b| seen[b as usize] = true);
        assert!(seen.iter().filter(|&&s| s).count() > 200);
    }
}
