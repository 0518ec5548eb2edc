//! Object sizes and keys: `--size` (one size, uniform or log-uniform
//! between two), each key's size and range offset drawn deterministically
//! from its index and `--seed`, the size classes endpoints are named by, and
//! the key names. Nothing here does I/O; `scenario` writes the rows.

use crate::config::parse_size;

/// Largest object size `--size` accepts: 5 GiB, S3's largest single PUT.
pub const SIZE_MAX: u64 = 5 << 30;

/// How object sizes are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeSpec {
    /// Every object has this size.
    Fixed(u64),
    /// Uniform over `lo..=hi`.
    Uniform(u64, u64),
    /// Log-uniform over `lo..=hi` (as many objects per factor of size).
    LogUniform(u64, u64),
}

impl SizeSpec {
    /// Parses `4KiB`, `1KiB..1MiB` or `1KiB..1MiB:log`.
    pub fn parse(text: &str) -> Result<SizeSpec, String> {
        let text = text.trim();
        let one = |t: &str| {
            parse_size(t, SIZE_MAX).map_err(|_| {
                format!(
                    "'{text}' is not a size: give 4KiB, LO..HI (uniform) or LO..HI:log \
                     (log-uniform), each from 1 byte to 5GiB"
                )
            })
        };
        let Some((lo, rest)) = text.split_once("..") else {
            return Ok(SizeSpec::Fixed(one(text)?));
        };
        let (hi, log) = match rest.rsplit_once(':') {
            Some((hi, "log")) => (hi, true),
            Some((_, other)) => {
                return Err(format!(
                    "'{text}': unknown distribution ':{other}' (only ':log', or none for uniform)"
                ))
            }
            None => (rest, false),
        };
        let (lo, hi) = (one(lo)?, one(hi)?);
        if lo > hi {
            return Err(format!("'{text}': the low size is above the high one"));
        }
        Ok(match (lo == hi, log) {
            (true, _) => SizeSpec::Fixed(lo),
            (false, false) => SizeSpec::Uniform(lo, hi),
            (false, true) => SizeSpec::LogUniform(lo, hi),
        })
    }

    /// The smallest and largest sizes it can give.
    pub fn bounds(&self) -> (u64, u64) {
        match *self {
            SizeSpec::Fixed(size) => (size, size),
            SizeSpec::Uniform(lo, hi) | SizeSpec::LogUniform(lo, hi) => (lo, hi),
        }
    }

    /// The size of object `index` under `seed`: the same in every process
    /// and run with the same flags, so a later `get` knows what `put` wrote.
    pub fn size_of(&self, index: u64, seed: u64) -> u64 {
        match *self {
            SizeSpec::Fixed(size) => size,
            SizeSpec::Uniform(lo, hi) => lo + draw(index, seed, 1) % (hi - lo + 1),
            SizeSpec::LogUniform(lo, hi) => {
                let unit = (draw(index, seed, 1) >> 11) as f64 / (1u64 << 53) as f64;
                let (ln_lo, ln_hi) = ((lo as f64).ln(), (hi as f64).ln());
                let size = (ln_lo + unit * (ln_hi - ln_lo)).exp().round() as u64;
                size.clamp(lo, hi)
            }
        }
    }

    /// The size class an object of `size` is reported under: the size
    /// itself for a fixed `--size` (`4KiB`), else the power-of-4 bracket
    /// holding it, upper end included (`1KiB-4KiB` holds 1025 to 4096).
    pub fn class_of(&self, size: u64) -> String {
        if let SizeSpec::Fixed(size) = *self {
            return format_size(size);
        }
        let mut hi = 1u64;
        while hi < size {
            hi *= 4;
        }
        match hi {
            1 => "0B-1B".to_string(),
            _ => format!("{}-{}", format_size(hi / 4), format_size(hi)),
        }
    }
}

/// The offset of a `--range LEN` read of object `index` (of `size` bytes):
/// deterministic, and such that `offset + len <= size`.
pub fn range_offset(index: u64, seed: u64, size: u64, len: u64) -> u64 {
    draw(index, seed, 2) % (size.saturating_sub(len) + 1)
}

/// The key of object `index` of `objects`: `prefix` + `obj-` + the index,
/// zero-padded to at least 6 digits (`stampede/obj-000042`).
pub fn key_of(prefix: &str, index: u64, objects: u64) -> String {
    let width = objects.saturating_sub(1).to_string().len().max(6);
    format!("{prefix}obj-{index:0width$}")
}

/// A size in the largest binary unit that divides it: `4KiB`, `1MiB`, `1000B`.
pub fn format_size(bytes: u64) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}B")
}

/// A 64-bit draw for (`index`, `seed`, `stream`): SplitMix64 of their mix.
fn draw(index: u64, seed: u64, stream: u64) -> u64 {
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(index.wrapping_mul(0xD1B5_4A32_D192_ED03))
        .wrapping_add(stream.wrapping_mul(0x94D0_49BB_1331_11EB));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixed, uniform and log-uniform sizes parse; bad ones are explained.
    #[test]
    fn size_specs_parse() {
        assert_eq!(SizeSpec::parse("4KiB"), Ok(SizeSpec::Fixed(4096)));
        assert_eq!(
            SizeSpec::parse("1KiB..1MiB"),
            Ok(SizeSpec::Uniform(1024, 1 << 20))
        );
        assert_eq!(
            SizeSpec::parse("1KiB..1GiB:log"),
            Ok(SizeSpec::LogUniform(1024, 1 << 30))
        );
        assert_eq!(SizeSpec::parse("8k..8k"), Ok(SizeSpec::Fixed(8192)));
        for bad in [
            "",
            "0",
            "4XB",
            "1MiB..1KiB",
            "1KiB..2KiB:exp",
            "..4KiB",
            "6GiB",
        ] {
            let error = SizeSpec::parse(bad).unwrap_err();
            assert!(error.contains(bad.trim()), "{bad}: {error}");
        }
    }

    /// Sizes depend only on index and seed, stay in bounds, and spread.
    #[test]
    fn sizes_are_deterministic_and_in_bounds() {
        for spec in [
            SizeSpec::Uniform(1000, 5000),
            SizeSpec::LogUniform(1 << 10, 1 << 30),
        ] {
            let (lo, hi) = spec.bounds();
            let sizes: Vec<u64> = (0..2000).map(|i| spec.size_of(i, 7)).collect();
            assert!(sizes.iter().all(|s| (lo..=hi).contains(s)));
            assert_eq!(
                sizes,
                (0..2000).map(|i| spec.size_of(i, 7)).collect::<Vec<_>>()
            );
            assert_ne!(
                sizes,
                (0..2000).map(|i| spec.size_of(i, 8)).collect::<Vec<_>>()
            );
            let distinct: std::collections::BTreeSet<_> = sizes.iter().collect();
            assert!(
                distinct.len() > 500,
                "{spec:?}: {} distinct",
                distinct.len()
            );
        }
        // Log-uniform: about as many objects below 32 KiB (5 of 20 doublings
        // above 1 KiB) as a quarter of them.
        let spec = SizeSpec::LogUniform(1 << 10, 1 << 30);
        let small = (0..4000)
            .filter(|&i| spec.size_of(i, 1) <= 32 << 10)
            .count();
        assert!(
            (800..1200).contains(&small),
            "{small} of 4000 at most 32 KiB"
        );
    }

    /// Classes: the size for a fixed --size, power-of-4 brackets otherwise.
    #[test]
    fn size_classes() {
        assert_eq!(SizeSpec::Fixed(4096).class_of(4096), "4KiB");
        assert_eq!(SizeSpec::Fixed(1000).class_of(1000), "1000B");
        let spec = SizeSpec::Uniform(1, 1 << 30);
        assert_eq!(spec.class_of(1), "0B-1B");
        assert_eq!(spec.class_of(1025), "1KiB-4KiB");
        assert_eq!(spec.class_of(4096), "1KiB-4KiB");
        assert_eq!(spec.class_of(4097), "4KiB-16KiB");
        assert_eq!(spec.class_of(3 << 20), "1MiB-4MiB");
        assert_eq!(spec.class_of(1 << 30), "256MiB-1GiB");
    }

    /// Keys are padded to 6 digits or to the largest index's width.
    #[test]
    fn keys() {
        assert_eq!(key_of("stampede/", 42, 1000), "stampede/obj-000042");
        assert_eq!(key_of("", 7, 10_000_000), "obj-0000007");
        assert_eq!(key_of("p/", 0, 1), "p/obj-000000");
    }

    /// Range offsets leave room for the range.
    #[test]
    fn range_offsets_fit() {
        for i in 0..1000 {
            let offset = range_offset(i, 3, 10_000, 4096);
            assert!(offset + 4096 <= 10_000);
        }
        assert_eq!(range_offset(5, 3, 4096, 4096), 0);
    }
}
