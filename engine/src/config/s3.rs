//! `stampede s3`'s own flags, validated: the operation, where the bucket
//! is, how keys and sizes are made, the mix and the phases. Errors name the
//! flag (exit 2). The run flags (`--users`, `--run-time`, reports...) stay
//! ordinary settings; `s3` compiles both into an ordinary run.

use crate::s3::size::{format_size, SizeSpec};

/// The flags of `stampede s3` as given (clap collects them in `cli.rs`).
#[derive(Debug, Clone, Default)]
pub struct S3Flags {
    /// `put`, `get`, `mixed`, `list` or `delete`.
    pub op: String,
    /// `--endpoint URL`.
    pub endpoint: Option<String>,
    /// `--bucket NAME`.
    pub bucket: Option<String>,
    /// `--region R`.
    pub region: Option<String>,
    /// `--anonymous`: unsigned requests.
    pub anonymous: bool,
    /// `--addressing path|virtual`.
    pub addressing: Option<String>,
    /// `--objects N`.
    pub objects: Option<String>,
    /// `--size S`.
    pub size: Option<String>,
    /// `--prefix P`.
    pub prefix: Option<String>,
    /// `--range LEN`.
    pub range: Option<String>,
    /// `--mix get=60,put=30,...`.
    pub mix: Option<String>,
    /// `--part-size S`.
    pub part_size: Option<String>,
    /// `--seed N`.
    pub seed: Option<String>,
    /// `--no-prepare`.
    pub no_prepare: bool,
    /// `--cleanup`.
    pub cleanup: bool,
    /// `--print-scenario`.
    pub print_scenario: bool,
}

/// What the workload does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Write every key once.
    Put,
    /// Read the keys (once each, or round and round with a stop).
    Get,
    /// Weighted get, put, delete and list.
    Mixed,
    /// List the prefix.
    List,
    /// Delete every key once.
    Delete,
}

impl Op {
    /// The word on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Get => "get",
            Op::Mixed => "mixed",
            Op::List => "list",
            Op::Delete => "delete",
        }
    }
}

/// How a bucket is named in URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    /// `http://host/bucket/key`.
    Path,
    /// `http://bucket.host/key`.
    Virtual,
}

/// Task weights of `mixed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    /// GETs.
    pub get: u32,
    /// PUTs.
    pub put: u32,
    /// DELETEs (each followed by a PUT of the same key, see docs/s3.md).
    pub delete: u32,
    /// Listings.
    pub list: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            get: 60,
            put: 30,
            delete: 5,
            list: 5,
        }
    }
}

/// Smallest part S3 accepts in a multipart upload (all but the last).
pub const PART_SIZE_MIN: u64 = 5 << 20;
/// Most objects a run may name (each is a feeder row in memory).
pub const OBJECTS_MAX: u64 = 10_000_000;

/// `stampede s3`'s settings, validated.
#[derive(Debug, Clone)]
pub struct S3Options {
    /// The operation.
    pub op: Op,
    /// `scheme://host[:port]`, no trailing slash.
    pub endpoint: String,
    /// The bucket.
    pub bucket: String,
    /// Signing region.
    pub region: String,
    /// Send unsigned requests.
    pub anonymous: bool,
    /// Path or virtual-host addressing.
    pub addressing: Addressing,
    /// Distinct keys.
    pub objects: u64,
    /// Object sizes.
    pub size: SizeSpec,
    /// Key prefix.
    pub prefix: String,
    /// `--range LEN`: ranged GETs of this many bytes.
    pub range: Option<u64>,
    /// `mixed`'s weights.
    pub mix: Mix,
    /// Objects of at least this size would need a multipart upload.
    pub part_size: u64,
    /// Seed of the sizes and range offsets.
    pub seed: u64,
    /// Upload the objects before a get, delete, list or mixed run.
    pub prepare: bool,
    /// Delete the keys after the run.
    pub cleanup: bool,
    /// Print the scenario and exit.
    pub print_scenario: bool,
}

impl S3Options {
    /// Validates the flags; errors name the flag.
    pub fn from_flags(flags: &S3Flags) -> Result<S3Options, String> {
        let op = match flags.op.as_str() {
            "put" => Op::Put,
            "get" => Op::Get,
            "mixed" => Op::Mixed,
            "list" => Op::List,
            "delete" => Op::Delete,
            other => {
                return Err(format!(
                    "s3: unknown operation '{other}' (put, get, mixed, list or delete)"
                ))
            }
        };
        let endpoint = parse_endpoint(flags.endpoint.as_deref())?;
        let bucket = parse_bucket(flags.bucket.as_deref())?;
        let region = flags.region.clone().unwrap_or_else(|| "us-east-1".into());
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(format!(
                "--region: '{region}' is not a region name (e.g. us-east-1)"
            ));
        }
        let addressing = match flags.addressing.as_deref().unwrap_or("path") {
            "path" => Addressing::Path,
            "virtual" => Addressing::Virtual,
            other => return Err(format!("--addressing: '{other}' (use path or virtual)")),
        };
        let objects = match &flags.objects {
            None => 1000,
            Some(text) => text
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=OBJECTS_MAX).contains(n))
                .ok_or_else(|| {
                    format!("--objects: '{text}' is not a count from 1 to {OBJECTS_MAX}")
                })?,
        };
        let size = match &flags.size {
            None => SizeSpec::Fixed(4096),
            Some(text) => SizeSpec::parse(text).map_err(|e| format!("--size: {e}"))?,
        };
        let prefix = flags.prefix.clone().unwrap_or_else(|| "stampede/".into());
        if prefix.len() > 512 || prefix.chars().any(|c| c.is_control()) {
            return Err(format!(
                "--prefix: '{}' must be at most 512 bytes without control characters",
                prefix.escape_debug()
            ));
        }
        let part_size = match &flags.part_size {
            None => 64 << 20,
            Some(text) => {
                crate::config::parse_size(text, 5 << 30).map_err(|e| format!("--part-size: {e}"))?
            }
        };
        if part_size < PART_SIZE_MIN {
            return Err(format!(
                "--part-size: at least 5MiB (S3's smallest part), not {}",
                format_size(part_size)
            ));
        }
        let (lo, hi) = size.bounds();
        let largest_single = crate::http::body_block::DEFAULT_BLOCK_BYTES as u64;
        if hi > largest_single {
            return Err(format!(
                "--size: objects above {} need multipart uploads, which stampede s3 does not                  send yet",
                format_size(largest_single)
            ));
        }
        if hi >= part_size {
            return Err(format!(
                "--size: objects of {} and more would need multipart uploads (--part-size {}), \
                 which stampede s3 does not send yet; keep --size below --part-size",
                format_size(part_size),
                format_size(part_size)
            ));
        }
        let range = match &flags.range {
            None => None,
            Some(text) => {
                let len = crate::config::parse_size(text, crate::s3::size::SIZE_MAX)
                    .map_err(|e| format!("--range: {e}"))?;
                if len > lo {
                    return Err(format!(
                        "--range: {} is longer than the smallest object ({})",
                        format_size(len),
                        format_size(lo)
                    ));
                }
                if !matches!(op, Op::Get | Op::Mixed) {
                    return Err(format!(
                        "--range: only get and mixed read objects, not {}",
                        op.name()
                    ));
                }
                Some(len)
            }
        };
        let mix = match &flags.mix {
            None => Mix::default(),
            Some(_) if op != Op::Mixed => {
                return Err(format!("--mix: only `mixed` runs a mix, not {}", op.name()))
            }
            Some(text) => parse_mix(text).map_err(|e| format!("--mix: {e}"))?,
        };
        let seed = match &flags.seed {
            None => 1,
            Some(text) => text
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("--seed: '{text}' is not a whole number"))?,
        };
        if flags.no_prepare && op == Op::Put {
            return Err("--no-prepare: put has no prepare phase (it writes the objects)".into());
        }
        Ok(S3Options {
            op,
            endpoint,
            bucket,
            region,
            anonymous: flags.anonymous,
            addressing,
            objects,
            size,
            prefix,
            range,
            mix,
            part_size,
            seed,
            prepare: !flags.no_prepare && op != Op::Put,
            cleanup: flags.cleanup && op != Op::Delete,
            print_scenario: flags.print_scenario,
        })
    }

    /// The URL requests go to: the endpoint, or with virtual addressing the
    /// bucket as the first label of its host.
    pub fn host_url(&self) -> String {
        match self.addressing {
            Addressing::Path => self.endpoint.clone(),
            Addressing::Virtual => {
                let (scheme, rest) = self.endpoint.split_once("://").unwrap_or(("http", ""));
                format!("{scheme}://{}.{rest}", self.bucket)
            }
        }
    }

    /// The path of the bucket itself: `/bucket`, or `/` with virtual addressing.
    pub fn bucket_path(&self) -> String {
        match self.addressing {
            Addressing::Path => format!("/{}", self.bucket),
            Addressing::Virtual => "/".into(),
        }
    }

    /// The path of an object whose key is the template `key`.
    pub fn object_path(&self, key: &str) -> String {
        match self.addressing {
            Addressing::Path => format!("/{}/{key}", self.bucket),
            Addressing::Virtual => format!("/{key}"),
        }
    }
}

/// `--endpoint`: an http(s) URL with a host and no path, query or fragment.
fn parse_endpoint(text: Option<&str>) -> Result<String, String> {
    let text = text.ok_or("s3: --endpoint URL is required (e.g. http://127.0.0.1:9000)")?;
    let trimmed = text.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"));
    match rest {
        Some(authority)
            if !authority.is_empty()
                && !authority.contains(['/', '?', '#', '@'])
                && !authority
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(trimmed.to_string())
        }
        _ => Err(format!(
            "--endpoint: '{text}' is not an http:// or https:// URL of a host (no path), \
             e.g. http://127.0.0.1:9000"
        )),
    }
}

/// `--bucket`: S3's bucket name rules (3 to 63 of a-z, 0-9, '.', '-').
fn parse_bucket(text: Option<&str>) -> Result<String, String> {
    let name = text.ok_or("s3: --bucket NAME is required")?;
    let valid = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    if valid {
        Ok(name.to_string())
    } else {
        Err(format!(
            "--bucket: '{name}' is not a bucket name (3 to 63 lower-case letters, digits, \
             '.' and '-', starting and ending with a letter or digit)"
        ))
    }
}

/// `get=60,put=30,delete=5,list=5`; names not given weigh 0.
fn parse_mix(text: &str) -> Result<Mix, String> {
    let mut mix = Mix {
        get: 0,
        put: 0,
        delete: 0,
        list: 0,
    };
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, weight) = pair
            .split_once('=')
            .ok_or_else(|| format!("'{pair}': give NAME=WEIGHT, e.g. get=60,put=30"))?;
        let weight: u32 = weight
            .trim()
            .parse()
            .ok()
            .filter(|w| *w <= 10_000)
            .ok_or_else(|| format!("'{pair}': the weight must be a whole number up to 10000"))?;
        let slot = match name.trim() {
            "get" => &mut mix.get,
            "put" => &mut mix.put,
            "delete" => &mut mix.delete,
            "list" => &mut mix.list,
            other => {
                return Err(format!(
                    "'{other}' is not an operation of the mix (get, put, delete, list)"
                ))
            }
        };
        *slot = weight;
    }
    if mix.get + mix.put + mix.delete + mix.list == 0 {
        return Err(format!("'{text}': every weight is 0"));
    }
    Ok(mix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(op: &str) -> S3Flags {
        S3Flags {
            op: op.into(),
            endpoint: Some("http://127.0.0.1:9000/".into()),
            bucket: Some("bench".into()),
            ..S3Flags::default()
        }
    }

    /// Defaults as documented.
    #[test]
    fn defaults() {
        let options = S3Options::from_flags(&flags("get")).unwrap();
        assert_eq!(options.endpoint, "http://127.0.0.1:9000");
        assert_eq!(options.region, "us-east-1");
        assert_eq!(options.addressing, Addressing::Path);
        assert_eq!(options.objects, 1000);
        assert_eq!(options.size, SizeSpec::Fixed(4096));
        assert_eq!(options.prefix, "stampede/");
        assert_eq!(options.part_size, 64 << 20);
        assert_eq!(options.seed, 1);
        assert!(options.prepare && !options.cleanup && options.range.is_none());
        assert_eq!(options.object_path("${key}"), "/bench/${key}");
        assert_eq!(options.host_url(), "http://127.0.0.1:9000");
        let put = S3Options::from_flags(&flags("put")).unwrap();
        assert!(!put.prepare);
    }

    /// Virtual addressing moves the bucket into the host name.
    #[test]
    fn virtual_addressing() {
        let mut f = flags("put");
        f.addressing = Some("virtual".into());
        let options = S3Options::from_flags(&f).unwrap();
        assert_eq!(options.host_url(), "http://bench.127.0.0.1:9000");
        assert_eq!(options.object_path("k"), "/k");
        assert_eq!(options.bucket_path(), "/");
    }

    /// Every bad value is refused naming its flag.
    #[test]
    fn bad_values_name_their_flag() {
        type Change = Box<dyn Fn(&mut S3Flags)>;
        let cases: Vec<(Change, &str)> = vec![
            (
                Box::new(|f| f.op = "copy".into()),
                "unknown operation 'copy'",
            ),
            (
                Box::new(|f| f.endpoint = None),
                "--endpoint URL is required",
            ),
            (Box::new(|f| f.bucket = None), "--bucket NAME is required"),
            (
                Box::new(|f| f.endpoint = Some("ftp://x".into())),
                "--endpoint",
            ),
            (
                Box::new(|f| f.endpoint = Some("http://h/b".into())),
                "--endpoint",
            ),
            (
                Box::new(|f| f.bucket = Some("Bad_Bucket".into())),
                "--bucket",
            ),
            (Box::new(|f| f.bucket = Some("ab".into())), "--bucket"),
            (Box::new(|f| f.region = Some("us east".into())), "--region"),
            (
                Box::new(|f| f.addressing = Some("dns".into())),
                "--addressing",
            ),
            (Box::new(|f| f.objects = Some("0".into())), "--objects"),
            (Box::new(|f| f.objects = Some("many".into())), "--objects"),
            (Box::new(|f| f.size = Some("4XB".into())), "--size"),
            (Box::new(|f| f.size = Some("2KiB..1KiB".into())), "--size"),
            (
                Box::new(|f| f.size = Some("1KiB..128MiB".into())),
                "multipart",
            ),
            (
                Box::new(|f| f.part_size = Some("1MiB".into())),
                "--part-size",
            ),
            (Box::new(|f| f.size = Some("65MiB".into())), "multipart"),
            (Box::new(|f| f.range = Some("8KiB".into())), "--range"),
            (Box::new(|f| f.mix = Some("get=1".into())), "--mix"),
            (Box::new(|f| f.seed = Some("-1".into())), "--seed"),
            (Box::new(|f| f.prefix = Some("a\nb".into())), "--prefix"),
        ];
        for (change, expected) in cases {
            let mut f = flags("get");
            change(&mut f);
            let error = S3Options::from_flags(&f).unwrap_err();
            assert!(error.contains(expected), "{f:?}: {error}");
        }
        let mut f = flags("put");
        f.range = Some("1KiB".into());
        assert!(S3Options::from_flags(&f).unwrap_err().contains("--range"));
        f.range = None;
        f.no_prepare = true;
        assert!(S3Options::from_flags(&f)
            .unwrap_err()
            .contains("--no-prepare"));
    }

    /// Mixes parse by name; unknown names, junk and all-zero are refused.
    #[test]
    fn mixes() {
        assert_eq!(
            parse_mix("get=60, put=30,delete=5,list=5"),
            Ok(Mix::default())
        );
        assert_eq!(
            parse_mix("get=1"),
            Ok(Mix {
                get: 1,
                put: 0,
                delete: 0,
                list: 0
            })
        );
        for bad in [
            "copy=1",
            "get",
            "get=x",
            "get=0,put=0",
            "get=-1",
            "get=20000",
        ] {
            assert!(parse_mix(bad).is_err(), "{bad}");
        }
        let mut f = flags("mixed");
        f.mix = Some("head=3".into());
        let error = S3Options::from_flags(&f).unwrap_err();
        assert!(error.starts_with("--mix: 'head'"), "{error}");
    }
}
