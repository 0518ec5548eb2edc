//! What the engine's property and fuzz tests share: the case budget and a
//! counting allocator that measures what one call allocated at its peak.
//!
//! The fuzz tests themselves live beside the code they fuzz, each named
//! `fuzz_*` (`cargo test -p stampede-engine --lib fuzz_` runs them all):
//! `http::response_fuzz` (response heads, body framing, chunked bodies),
//! `http::tls_record_fuzz` (the TLS 1.3 record layer against rustls),
//! `scenario::fuzz` (scenario files and templates) and `runfile` here (run
//! files replayed through the aggregator). Each runs a budget of cases that
//! keeps `cargo test` quick; `PROPTEST_CASES=N` runs N cases of each instead
//! (docs/testing.md).

pub mod alloc;
mod runfile;

use proptest::test_runner::Config;

/// The test budget: `PROPTEST_CASES` when set, else `default_cases`. No
/// regression files are written: a failure found is fixed and its input
/// kept as a plain `#[test]` next to the code it fixes.
pub fn config(default_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}
