//! Tests of `aggregate`, kept apart so the module stays readable.
use super::*;
use crate::stats::test_support::{endpoint, histogram, snapshot};
use crate::stats::PointLatency;
use stampede_proto::FailureKind::{Connect, Status};
use stampede_proto::HistogramBuckets;

/// Two sources over three intervals, with the values each endpoint saw.
fn two_source_run() -> (Aggregator, Vec<u64>, Vec<u64>) {
    let (mut home, mut login) = (Vec::new(), Vec::new());
    let mut agg = Aggregator::new();
    for t in 1..=3u32 {
        for source in 0..2u32 {
            let base = u64::from(t * 10 + source);
            let home_us = [base * 100, base * 1_000 + 7, base * 37_001];
            let login_us = [base * 3_333];
            home.extend(home_us);
            login.extend(login_us);
            let failures = [(Status, "HTTP 500", 1)];
            let endpoints = vec![
                endpoint("GET", "/", &home_us, &[]),
                endpoint("POST", "/login", &login_us, &failures),
            ];
            agg.merge(&snapshot(source, t, 5 + source, endpoints))
                .unwrap();
        }
    }
    (agg, home, login)
}

/// Merged counts add up exactly and merged percentiles equal one histogram of all values.
#[test]
fn merges_counts_and_percentiles_exactly() {
    let (agg, home, login) = two_source_run();
    let all: Vec<u64> = home.iter().chain(&login).copied().collect();
    let cases = [(&agg.endpoints()[0], &home), (&agg.endpoints()[1], &login)];
    for (totals, values) in cases.into_iter().chain([(&agg.total(), &all)]) {
        let reference = histogram(values);
        assert_eq!(totals.requests, values.len() as u64);
        assert_eq!(totals.bytes_received, 100 * values.len() as u64);
        assert_eq!(totals.body_bytes_sent, 30 * values.len() as u64);
        assert_eq!(totals.latency_us.len(), values.len() as u64);
        for q in [0.0, 50.0, 66.0, 90.0, 99.0, 99.9, 100.0] {
            let expected = reference.value_at_quantile(q / 100.0) as f64 / 1_000.0;
            assert_eq!(totals.percentile_ms(q), expected, "q {q}");
        }
        assert_eq!(totals.latency_us.mean(), reference.mean());
    }
    assert_eq!(agg.endpoints()[0].failures, 0);
    assert_eq!(agg.endpoints()[1].failures, 6);
    let total = agg.total();
    assert_eq!(
        (total.method.as_str(), total.name.as_str()),
        ("", "Aggregated")
    );
    assert_eq!((total.requests, total.failures), (24, 6));
}

/// Endpoints are sorted by name then method, whatever order they arrive in.
#[test]
fn endpoints_sort_by_name_then_method() {
    let mut agg = Aggregator::new();
    let endpoints = vec![
        endpoint("POST", "/b", &[1], &[]),
        endpoint("GET", "/b", &[1], &[]),
        endpoint("PUT", "/a", &[1], &[]),
    ];
    agg.merge(&snapshot(0, 1, 1, endpoints)).unwrap();
    let keys: Vec<_> = agg
        .endpoints()
        .iter()
        .map(|e| format!("{} {}", e.method, e.name))
        .collect();
    assert_eq!(keys, ["PUT /a", "GET /b", "POST /b"]);
}

/// Points merge sources of the same interval in any order, fill gaps, and count users once per source.
#[test]
fn timeseries_merges_sources_and_fills_gaps() {
    let mut agg = Aggregator::new();
    let (a, b) = ([1_000, 3_000], [2_000, 4_000, 5_000]);
    agg.merge(&snapshot(0, 4, 3, vec![endpoint("GET", "/", &a, &[])]))
        .unwrap();
    agg.merge(&snapshot(1, 4, 4, vec![endpoint("GET", "/", &b, &[])]))
        .unwrap();
    agg.merge(&snapshot(0, 1, 2, vec![endpoint("GET", "/", &[9], &[])]))
        .unwrap();
    let points = agg.timeseries();
    let t_s: Vec<u32> = points.iter().map(|p| p.t_s).collect();
    assert_eq!(t_s, [1, 2, 3, 4]);
    assert_eq!((points[0].requests, points[0].users), (1, 2));
    for gap in &points[1..3] {
        assert_eq!((gap.requests, gap.users, gap.latency_us.len()), (0, 0, 0));
    }
    assert_eq!((points[3].requests, points[3].users), (5, 7));
    assert_eq!(points[3].bytes_received, 500);
    let mut reference = hdrhistogram::Histogram::<u64>::new(2).unwrap();
    for v in a.iter().chain(&b) {
        reference.record(*v).unwrap();
    }
    for q in [0.5, 0.95, 1.0] {
        assert_eq!(
            points[3]
                .latency_us
                .histogram()
                .unwrap()
                .value_at_quantile(q),
            reference.value_at_quantile(q)
        );
    }
    let mut last = snapshot(1, 4, 0, vec![endpoint("GET", "/", &[7], &[])]);
    last.is_final = true;
    agg.merge(&last).unwrap();
    // A final repeat of interval 4 replaces source 1's users there and adds its request.
    let point = &agg.timeseries()[3];
    assert_eq!((point.users, point.requests), (3, 6));
}

/// The same failure from two sources is one row; rows come most frequent first.
#[test]
fn failures_group_and_sort_by_count() {
    let mut agg = Aggregator::new();
    let refused = (Connect, "connection refused", 2);
    let e0 = endpoint("GET", "/", &[1, 1, 1], &[(Status, "HTTP 500", 1), refused]);
    let e1 = endpoint("GET", "/", &[1, 1], &[(Status, "HTTP 500", 2)]);
    agg.merge(&snapshot(0, 1, 1, vec![e0])).unwrap();
    agg.merge(&snapshot(1, 1, 1, vec![e1])).unwrap();
    let rows: Vec<_> = agg
        .failures()
        .into_iter()
        .map(|f| (f.method, f.name, f.kind, f.message, f.count))
        .collect();
    let expect =
        |kind, message: &str, count| ("GET".into(), "/".into(), kind, message.into(), count);
    assert_eq!(
        rows,
        [
            expect(Status, "HTTP 500", 3),
            expect(Connect, "connection refused", 2)
        ]
    );
    assert_eq!(
        (agg.endpoints()[0].failures, agg.timeseries()[0].failures),
        (5, 5)
    );
}

/// Current rates skip the newest interval until every source sent it, and use 3 intervals.
#[test]
fn current_rates_use_completed_intervals_only() {
    let mut agg = Aggregator::new();
    let fail = [(Status, "HTTP 503", 1)];
    for t in 1..=4u32 {
        let requests = vec![1u64; t as usize * 10];
        let e = endpoint("GET", "/", &requests, &fail);
        agg.merge(&snapshot(0, t, 1, vec![e.clone()])).unwrap();
        if t < 4 {
            agg.merge(&snapshot(1, t, 1, vec![e])).unwrap();
        }
    }
    // Intervals 1..=3 are complete: (20 + 40 + 60) requests over 3 s.
    assert_eq!(agg.current_rps(), 40.0);
    assert_eq!(agg.current_failures_per_s(), 2.0);
    let e = endpoint("GET", "/", &[1u64; 40], &fail);
    agg.merge(&snapshot(1, 4, 1, vec![e])).unwrap();
    // Now 2..=4: (40 + 60 + 80) over 3 s.
    assert_eq!(agg.current_rps(), 60.0);
    assert_eq!(
        agg.current_endpoint_rates(0),
        Rates {
            requests_per_s: 60.0,
            failures_per_s: 2.0
        }
    );
    assert_eq!(agg.current_endpoint_rates(1), Rates::default());
}

/// Dropped arrivals, CPU time and service histograms are summed across sources.
#[test]
fn sums_dropped_cpu_and_service_time() {
    let mut agg = Aggregator::new();
    for source in 0..2u32 {
        let mut e = endpoint("GET", "/", &[5_000], &[]);
        let service = HistogramBuckets::encode(&histogram(&[1_000 + u64::from(source)])).unwrap();
        e.service_us = Some(service);
        let mut s = snapshot(source, 1, 1, vec![e, endpoint("GET", "/x", &[9], &[])]);
        (s.dropped, s.cpu_us) = (3, 250_000);
        agg.merge(&s).unwrap();
    }
    assert_eq!((agg.dropped(), agg.cpu_us()), (6, 500_000));
    assert_eq!(agg.timeseries()[0].dropped, 6);
    let point = &agg.timeseries()[0];
    assert_eq!((point.cpu_us, point.sources), (500_000, 2));
    let service = agg.endpoints()[0].service_us.as_ref().unwrap();
    assert_eq!(
        (service.len(), service.min(), service.max()),
        (2, 1_000, 1_001)
    );
    assert!(agg.endpoints()[1].service_us.is_none());
    assert_eq!(agg.total().service_us.unwrap().len(), 2);
}

/// A shard's busy share counts the CPU it waited for: 50% used plus 45%
/// on the run queue is 95% busy; CPU totals count only what was used.
#[test]
fn busy_share_counts_run_queue_wait() {
    let mut agg = Aggregator::new();
    let mut s = snapshot(0, 1, 1, vec![endpoint("GET", "/", &[5_000], &[])]);
    (s.cpu_us, s.wait_us, s.wall_us) = (500_000, 450_000, 1_000_000);
    agg.merge(&s).unwrap();
    let point = &agg.timeseries()[0];
    assert!((point.busy_max - 0.95).abs() < 1e-9, "{}", point.busy_max);
    assert_eq!(agg.cpu_us(), 500_000);
}

/// A refused snapshot changes nothing, not even the parts of it that were valid.
#[test]
fn refused_snapshots_change_nothing() {
    let mut agg = Aggregator::new();
    agg.merge(&snapshot(0, 1, 3, vec![endpoint("GET", "/", &[7], &[])]))
        .unwrap();
    let mut corrupt = endpoint("GET", "/x", &[1], &[]);
    corrupt.latency_us.encoded.truncate(3);
    let mut bad = snapshot(1, 3, 5, vec![endpoint("GET", "/", &[9, 9], &[]), corrupt]);
    bad.dropped = 4;
    assert!(agg.merge(&bad).is_err());
    assert!(agg.merge(&snapshot(1, 0, 5, vec![])).is_err());
    assert_eq!((agg.endpoints().len(), agg.timeseries().len()), (1, 1));
    assert_eq!(
        (agg.total().requests, agg.users(), agg.dropped()),
        (1, 3, 0)
    );
    assert_eq!(agg.timeseries()[0].latency_us.len(), 1);
}

/// Per-endpoint series, when kept, hold each endpoint's own counts and latencies per interval.
#[test]
fn endpoint_series_follow_each_endpoint() {
    let plain = two_source_run().0;
    assert!(!plain.keeps_endpoint_series());
    assert!(plain.endpoint_timeseries(0).is_empty());
    let mut agg = Aggregator::with_endpoint_series();
    let fail = [(Status, "HTTP 500", 1)];
    // Values below 256 µs, which 2 significant figures hold exactly.
    let b0 = endpoint("GET", "/b", &[100, 200], &[]);
    let b1 = endpoint("GET", "/b", &[100], &fail);
    agg.merge(&snapshot(0, 1, 2, vec![b0])).unwrap();
    agg.merge(&snapshot(1, 1, 2, vec![b1])).unwrap();
    // "/a" arrives later and sorts before "/b": its series is inserted in place.
    let mut last = snapshot(0, 3, 2, vec![endpoint("GET", "/a", &[500], &[])]);
    last.elapsed_ms = 2_500;
    agg.merge(&last).unwrap();
    let (a, b) = (agg.endpoint_timeseries(0), agg.endpoint_timeseries(1));
    assert_eq!((a.len(), b.len()), (3, 1));
    assert_eq!((a[0].requests, a[1].requests, a[2].requests), (0, 0, 1));
    assert_eq!(a[2].duration_s(), 0.5);
    let counts = (b[0].requests, b[0].failures, b[0].bytes_received);
    assert_eq!(counts, (3, 1, 300));
    assert_eq!((b[0].latency_us.len(), b[0].latency_us.max_ms()), (3, 0.2));
    assert_eq!((b[0].users, b[0].dropped), (0, 0));
    assert!(agg.endpoint_timeseries(2).is_empty());
    assert_eq!(agg.timeseries()[0].requests, 3);
}

/// Bytes sent add up over sources and intervals, per address and in all;
/// open connections are each live source's latest, gone once it finishes.
#[test]
fn bytes_sent_and_open_connections() {
    use stampede_proto::AddressCount;
    let sent = |addr: &str, requests, bytes_sent| AddressCount {
        addr: addr.into(),
        requests,
        bytes_sent,
    };
    let mut agg = Aggregator::new();
    assert_eq!((agg.bytes_sent(), agg.open_connections()), (0, 0));
    let mut s = snapshot(0, 1, 4, vec![endpoint("GET", "/", &[10; 3], &[])]);
    s.addresses = vec![sent("10.0.0.1:80", 2, 200), sent("10.0.0.2:80", 1, 100)];
    s.open_connections = 4;
    agg.merge(&s).unwrap();
    let mut s = snapshot(1, 1, 2, vec![endpoint("GET", "/", &[10], &[])]);
    s.addresses = vec![sent("10.0.0.1:80", 1, 100)];
    s.open_connections = 2;
    agg.merge(&s).unwrap();
    assert_eq!((agg.bytes_sent(), agg.open_connections()), (400, 6));
    let mut s = snapshot(0, 2, 4, vec![]);
    s.addresses = vec![sent("10.0.0.2:80", 5, 500)];
    s.open_connections = 3;
    agg.merge(&s).unwrap();
    assert_eq!((agg.bytes_sent(), agg.open_connections()), (900, 5));
    let dial = agg.dial_totals();
    let per_address: Vec<_> = dial
        .address_bytes
        .iter()
        .map(|(a, b)| (a.as_str(), *b))
        .collect();
    assert_eq!(per_address, [("10.0.0.1:80", 300), ("10.0.0.2:80", 600)]);
    assert_eq!(dial.addresses["10.0.0.2:80"], 6);
    // A refused snapshot adds no bytes.
    let mut bad = snapshot(1, 0, 2, vec![]);
    bad.addresses = vec![sent("10.0.0.1:80", 1, 100)];
    assert!(agg.merge(&bad).is_err());
    assert_eq!(agg.bytes_sent(), 900);
    let mut last = snapshot(1, 2, 0, vec![]);
    (last.is_final, last.open_connections) = (true, 2);
    agg.merge(&last).unwrap();
    assert_eq!(agg.open_connections(), 3);
    agg.retire_source(0);
    assert_eq!((agg.bytes_sent(), agg.open_connections()), (900, 0));
}

/// A failure remembers the first and last interval it occurred in.
#[test]
fn failures_remember_first_and_last_interval() {
    let mut agg = Aggregator::new();
    let fail = [(Status, "HTTP 500", 1)];
    for (source, t) in [(0, 4), (1, 2), (0, 7)] {
        let e = endpoint("GET", "/", &[1], &fail);
        agg.merge(&snapshot(source, t, 1, vec![e])).unwrap();
    }
    let f = &agg.failures()[0];
    assert_eq!((f.count, f.first_t_s, f.last_t_s), (3, 2, 7));
}

/// Snapshots of 9 sources over 14 intervals (past compaction) with three
/// endpoints, service times from some sources, failures, and one corrupt
/// snapshot, in arrival order.
fn many_source_snapshots() -> Vec<Snapshot> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |bound: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % bound
    };
    let mut snapshots = Vec::new();
    for t in 1..=14u32 {
        for source in 0..9u32 {
            let mut endpoints = Vec::new();
            for name in ["/", "/a", "/b"] {
                if next(5) == 0 {
                    continue;
                }
                let values: Vec<u64> = (0..next(40)).map(|_| 1 + next(900) * next(3_000)).collect();
                let failures = [(Status, "HTTP 503", next(3))];
                let failed = usize::from(failures[0].2 > 0);
                let mut e = endpoint("GET", name, &values, &failures[..failed]);
                if source % 3 == 0 {
                    let service: Vec<u64> = values.iter().map(|v| v / 2 + 1).collect();
                    e.service_us = Some(HistogramBuckets::encode(&histogram(&service)).unwrap());
                }
                endpoints.push(e);
            }
            let mut s = snapshot(source, t, 3, endpoints);
            s.cpu_us = next(1_000_000);
            snapshots.push(s);
        }
    }
    let mut corrupt = snapshot(4, 7, 3, vec![endpoint("GET", "/a", &[5, 6], &[])]);
    corrupt.endpoints[0].latency_us.encoded.truncate(3);
    snapshots.insert(40, corrupt);
    snapshots
}

/// What an aggregator holds, as text, with the latency sums apart (they are
/// sums of floats, which may round differently in another order). A
/// histogram's internal extremes and capacity are left out: adding a whole
/// histogram keeps the ends of its extreme buckets, adding bucket by bucket
/// their starts, and grows to the other histogram's range; what they report
/// (`min()`, `max()`, every count) is compared in full.
fn held(agg: &Aggregator) -> (String, Vec<f64>) {
    let mut endpoints: Vec<EndpointTotals> = agg.endpoints().to_vec();
    endpoints.push(agg.total());
    let sums = endpoints.iter().map(|e| e.latency_sum_us).collect();
    for e in &mut endpoints {
        e.latency_sum_us = 0.0;
    }
    let series: Vec<_> = (0..agg.endpoints().len())
        .map(|i| format!("{:?}", agg.endpoint_timeseries(i)))
        .collect();
    let text = format!(
        "{endpoints:?}\n{:?}\n{:?}\n{series:?}\n{:?}\n{}",
        agg.failures(),
        agg.timeseries(),
        agg.timeseries_running_latency(),
        agg.cpu_us()
    );
    let internal = ["highest_trackable_value", "max_value", "min_non_zero_value"];
    let mut text = text
        .split(", ")
        .filter(|part| !internal.iter().any(|field| part.starts_with(field)))
        .collect::<Vec<_>>()
        .join(", ");
    let mut histograms: Vec<&Histogram<u64>> = Vec::new();
    for e in &endpoints {
        histograms.extend([&e.latency_us, &e.ttfb_us]);
        histograms.extend(&e.service_us);
    }
    let series = (0..agg.endpoints().len()).flat_map(|i| agg.endpoint_timeseries(i));
    for point in agg.timeseries().iter().chain(series) {
        if let PointLatency::Exact(h) = &point.latency_us {
            histograms.push(h);
        }
    }
    for h in histograms {
        text.push_str(&format!("\n{} {} {}", h.len(), h.min(), h.max()));
    }
    (text, sums)
}

/// Merged in batches of any size, snapshots give exactly what merging them
/// one by one gives: totals, percentiles, metrics buckets, points (whole
/// and compacted), per-endpoint series and failures; a corrupt snapshot in
/// a batch is refused alone.
#[test]
fn batches_merge_exactly_as_one_by_one() {
    let snapshots = many_source_snapshots();
    let fresh = || {
        let mut agg = Aggregator::with_endpoint_series();
        agg.set_metric_bounds(vec![1_000, 50_000, 1_000_000]);
        agg
    };
    let mut one_by_one = fresh();
    let refused: Vec<usize> = snapshots
        .iter()
        .enumerate()
        .filter(|(_, s)| one_by_one.merge(s).is_err())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(refused, [40]);
    let (expected, expected_sums) = held(&one_by_one);
    for batch in [2, 5, 9, 27, snapshots.len()] {
        let mut batched = fresh();
        let mut results = Vec::new();
        for chunk in snapshots.chunks(batch) {
            let chunk: Vec<&Snapshot> = chunk.iter().collect();
            results.extend(batched.merge_batch(&chunk));
        }
        let refused: Vec<usize> = (0..results.len())
            .filter(|&i| results[i].is_err())
            .collect();
        assert_eq!(refused, [40], "batch {batch}");
        let (text, sums) = held(&batched);
        assert!(text == expected, "batch {batch}: held differs");
        for (sum, expected) in sums.iter().zip(&expected_sums) {
            assert!(
                (sum - expected).abs() <= 1e-9 * expected.abs(),
                "batch {batch}: {sum} vs {expected}"
            );
        }
    }
}
