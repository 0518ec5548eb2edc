//! The shard-local recorder: counts and histograms of the current interval.
//!
//! Recording a response is a few adds and one histogram record into memory
//! only this shard touches. Once per interval `take_snapshot` moves the deltas
//! into a `Snapshot` (the only place failure text is made) and starts afresh,
//! reusing the histograms' allocations. Merging is the aggregator's job.

use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use stampede_proto::{
    EndpointSnapshot, FailureCount, FailureSample, HistogramBuckets, ProtoError, Snapshot,
    SNAPSHOT_VERSION,
};

use super::new_latency_histogram;
use crate::http::Failure;

/// One endpoint's interval counters.
struct EndpointRecord {
    /// HTTP method of the endpoint.
    method: String,
    /// Name the endpoint is reported under.
    name: String,
    /// Completed requests, failed ones included.
    requests: u64,
    /// Response bytes received.
    bytes_received: u64,
    /// Response body bytes as received (encoded, de-chunked).
    body_bytes: u64,
    /// Bytes of decoded bodies after decoding.
    decoded_bytes: u64,
    /// Request body bytes sent.
    body_bytes_sent: u64,
    /// Redirects followed.
    redirects: u64,
    /// Requests sent and not yet recorded (user steps only).
    in_flight: u64,
    /// One sample per failure reason: (reason, request, status, body's first bytes).
    samples: Vec<(Failure, String, u16, Vec<u8>)>,
    /// Failures by reason; a handful at most, so a vector beats a map.
    failures: Vec<(Failure, u64)>,
    /// Latency (from intended send in open loop), microseconds.
    latency_us: Histogram<u64>,
    /// Service time from actual send, microseconds; open loop only.
    service_us: Option<Histogram<u64>>,
    /// Time to first byte, microseconds, from the same start as `latency_us`.
    ttfb_us: Histogram<u64>,
}

/// Identity of the interval a snapshot closes.
#[derive(Debug, Clone, Copy)]
pub struct IntervalMark {
    /// Shard (source) index.
    pub source: u32,
    /// Interval index, 1-based.
    pub interval: u32,
    /// Milliseconds since the run started.
    pub elapsed_ms: u64,
    /// Users (or in-flight requests in open loop) at the end of the interval.
    pub users: u32,
    /// CPU microseconds the shard used in the interval.
    pub cpu_us: u64,
    /// Wall microseconds the interval lasted.
    pub wall_us: u64,
    /// Microseconds the shard's thread waited for a CPU while ready to run.
    pub wait_us: u64,
    /// Whether this is the shard's last snapshot.
    pub is_final: bool,
}

/// Stats of one shard for the current interval.
pub struct Recorder {
    /// Per endpoint, indexed by the plan's endpoint ids.
    endpoints: Vec<EndpointRecord>,
    /// Open-loop arrivals dropped in the interval.
    dropped: u64,
    /// Open loop: dispatch lag behind the schedule, microseconds.
    sched_lag_us: Option<Histogram<u64>>,
    /// Texts of check and template failures, by id (the plan's).
    messages: Arc<[String]>,
}

impl Recorder {
    /// A recorder for endpoints given as (method, name); `open_loop` adds
    /// service-time histograms.
    pub fn new(endpoints: &[(String, String)], open_loop: bool, messages: Arc<[String]>) -> Self {
        let endpoints = endpoints
            .iter()
            .map(|(method, name)| EndpointRecord {
                method: method.clone(),
                name: name.clone(),
                requests: 0,
                bytes_received: 0,
                body_bytes: 0,
                decoded_bytes: 0,
                body_bytes_sent: 0,
                redirects: 0,
                in_flight: 0,
                samples: Vec::new(),
                failures: Vec::new(),
                latency_us: new_latency_histogram(),
                service_us: open_loop.then(new_latency_histogram),
                ttfb_us: new_latency_histogram(),
            })
            .collect();
        Recorder {
            endpoints,
            dropped: 0,
            sched_lag_us: open_loop.then(new_latency_histogram),
            messages,
        }
    }

    /// Records one finished request: `bytes` received, its failure if any,
    /// `latency` from the intended send time (equal to `service`, from the
    /// actual send, in closed loop), and `ttfb`, time to the response's
    /// first byte from the same start (`None` when no response came).
    #[inline]
    pub fn record(
        &mut self,
        endpoint: usize,
        bytes: u64,
        failure: Option<Failure>,
        latency: Duration,
        service: Duration,
        ttfb: Option<Duration>,
    ) {
        self.record_n(endpoint, 1, bytes, failure, latency, service, ttfb);
    }

    /// Records `count` finished requests with the same outcome and times
    /// (`bytes` is their total): one histogram update for all of them.
    /// Pipelined responses completed by one read share their times.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn record_n(
        &mut self,
        endpoint: usize,
        count: u64,
        bytes: u64,
        failure: Option<Failure>,
        latency: Duration,
        service: Duration,
        ttfb: Option<Duration>,
    ) {
        let Some(record) = self.endpoints.get_mut(endpoint) else {
            return;
        };
        record.requests += count;
        record.bytes_received += bytes;
        if let Some(failure) = failure {
            match record.failures.iter_mut().find(|(f, _)| *f == failure) {
                Some((_, n)) => *n += count,
                None => record.failures.push((failure, count)),
            }
        }
        record
            .latency_us
            .saturating_record_n(micros(latency), count);
        if let Some(ttfb) = ttfb {
            record.ttfb_us.saturating_record_n(micros(ttfb), count);
        }
        if let Some(service_us) = record.service_us.as_mut() {
            service_us.saturating_record_n(micros(service), count);
        }
    }

    /// Adds body sizes: the response's body bytes as received, decoded
    /// bytes when a compressed body was decoded, and the request's body
    /// bytes `sent`.
    #[inline]
    pub fn record_sizes(&mut self, endpoint: usize, body: u64, decoded: u64, sent: u64) {
        if let Some(record) = self.endpoints.get_mut(endpoint) {
            record.body_bytes += body;
            record.decoded_bytes += decoded;
            record.body_bytes_sent += sent;
        }
    }

    /// Notes a request sent; `end_request` when its outcome is recorded.
    #[inline]
    pub fn start_request(&mut self, endpoint: usize) {
        if let Some(record) = self.endpoints.get_mut(endpoint) {
            record.in_flight += 1;
        }
    }

    /// Notes that a request started with `start_request` was recorded.
    #[inline]
    pub fn end_request(&mut self, endpoint: usize) {
        if let Some(record) = self.endpoints.get_mut(endpoint) {
            record.in_flight = record.in_flight.saturating_sub(1);
        }
    }

    /// Counts every request still in flight as a failure of kind `cut_off`
    /// (the run stopped and its stop timeout ended before they did); they
    /// have no latency, so they count as requests and failures only.
    pub fn record_cut_offs(&mut self) -> u64 {
        let mut total = 0;
        for record in &mut self.endpoints {
            let n = std::mem::take(&mut record.in_flight);
            if n == 0 {
                continue;
            }
            total += n;
            record.requests += n;
            match record
                .failures
                .iter_mut()
                .find(|(f, _)| *f == Failure::CutOff)
            {
                Some((_, count)) => *count += n,
                None => record.failures.push((Failure::CutOff, n)),
            }
        }
        total
    }

    /// Counts redirects a request followed.
    pub fn record_redirects(&mut self, endpoint: usize, hops: u64) {
        if let Some(record) = self.endpoints.get_mut(endpoint) {
            record.redirects += hops;
        }
    }

    /// True when the interval has no sample of this failure yet: the
    /// caller then builds one for `record_sample` (so only the first
    /// failure of a kind per interval costs the copy).
    pub fn wants_sample(&self, endpoint: usize, failure: Failure) -> bool {
        self.endpoints
            .get(endpoint)
            .is_some_and(|r| !r.samples.iter().any(|(f, ..)| *f == failure))
    }

    /// Keeps a sample of a failure: the request (method and URL), the
    /// response status (0 for none) and the body's first bytes.
    pub fn record_sample(
        &mut self,
        endpoint: usize,
        failure: Failure,
        request: String,
        status: u16,
        body: &[u8],
    ) {
        if let Some(record) = self.endpoints.get_mut(endpoint) {
            let body = body[..body.len().min(stampede_proto::SAMPLE_BODY_BYTES)].to_vec();
            record.samples.push((failure, request, status, body));
        }
    }

    /// Counts open-loop arrivals that could not start.
    pub fn record_dropped(&mut self, count: u64) {
        self.dropped += count;
    }

    /// Records how late an open-loop arrival was dispatched after its intended time.
    #[inline]
    pub fn record_lag(&mut self, lag: Duration) {
        if let Some(lag_us) = self.sched_lag_us.as_mut() {
            lag_us.saturating_record(micros(lag));
        }
    }

    /// Moves the interval's deltas into a snapshot and resets them.
    pub fn take_snapshot(&mut self, mark: IntervalMark) -> Result<Snapshot, ProtoError> {
        let mut endpoints = Vec::new();
        for record in &mut self.endpoints {
            if record.requests == 0 {
                continue;
            }
            let failures = record
                .failures
                .drain(..)
                .map(|(f, count)| FailureCount {
                    kind: f.kind(),
                    message: f.message(&self.messages),
                    count,
                })
                .collect();
            let service_us = match record.service_us.as_mut() {
                Some(h) => Some(encode_and_reset(h)?),
                None => None,
            };
            let samples = record
                .samples
                .drain(..)
                .map(|(f, request, status, body)| FailureSample {
                    kind: f.kind(),
                    message: f.message(&self.messages),
                    request,
                    status,
                    body,
                })
                .collect();
            endpoints.push(EndpointSnapshot {
                method: record.method.clone(),
                name: record.name.clone(),
                requests: std::mem::take(&mut record.requests),
                failures,
                bytes_received: std::mem::take(&mut record.bytes_received),
                body_bytes: std::mem::take(&mut record.body_bytes),
                decoded_bytes: std::mem::take(&mut record.decoded_bytes),
                body_bytes_sent: std::mem::take(&mut record.body_bytes_sent),
                redirects: std::mem::take(&mut record.redirects),
                samples,
                latency_us: encode_and_reset(&mut record.latency_us)?,
                service_us,
                ttfb_us: encode_and_reset(&mut record.ttfb_us)?,
            });
        }
        Ok(Snapshot {
            version: SNAPSHOT_VERSION,
            source: mark.source,
            interval: mark.interval,
            elapsed_ms: mark.elapsed_ms,
            users: mark.users,
            dropped: std::mem::take(&mut self.dropped),
            cpu_us: mark.cpu_us,
            is_final: mark.is_final,
            endpoints,
            wall_us: mark.wall_us,
            wait_us: mark.wait_us,
            sched_lag_us: match self.sched_lag_us.as_mut() {
                Some(h) => encode_and_reset(h)?,
                None => HistogramBuckets::default(),
            },
            // The client's dial stats and open connections are added by the shard.
            connect_us: HistogramBuckets::default(),
            tls_handshake_us: HistogramBuckets::default(),
            addresses: Vec::new(),
            open_connections: 0,
            // A worker stamps its process's peak memory when it forwards the snapshot.
            max_rss_kb: 0,
        })
    }
}

fn encode_and_reset(histogram: &mut Histogram<u64>) -> Result<HistogramBuckets, ProtoError> {
    let encoded = HistogramBuckets::encode(histogram)?;
    histogram.reset();
    Ok(encoded)
}

/// Whole microseconds, at least 1 (the histogram's lowest value).
fn micros(duration: Duration) -> u64 {
    (duration.as_micros() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> Option<Failure> {
        (code >= 400).then_some(Failure::Status(code))
    }

    fn mark(interval: u32) -> IntervalMark {
        IntervalMark {
            source: 1,
            interval,
            elapsed_ms: 1000,
            users: 4,
            cpu_us: 9,
            wall_us: 1_000_000,
            wait_us: 0,
            is_final: false,
        }
    }

    /// Counts, bytes, failure kinds and latencies land in the snapshot, then reset.
    #[test]
    fn snapshot_carries_and_resets_deltas() {
        let mut recorder = Recorder::new(
            &[("GET".into(), "/".into()), ("GET".into(), "/idle".into())],
            false,
            Arc::from(Vec::new()),
        );
        let ms = Duration::from_millis;
        recorder.record(0, 10, status(200), ms(2), ms(2), Some(ms(1)));
        recorder.record(0, 10, status(500), ms(4), ms(4), Some(ms(3)));
        recorder.record(0, 10, status(500), ms(6), ms(6), Some(ms(3)));
        recorder.record(0, 0, Some(Failure::ConnectRefused), ms(1), ms(1), None);
        recorder.record_sizes(0, 7, 0, 4_096);
        recorder.record_sizes(0, 3, 0, 1_000);
        let snapshot = recorder.take_snapshot(mark(1)).unwrap();
        assert_eq!(
            snapshot.endpoints.len(),
            1,
            "endpoints without traffic are left out"
        );
        let e = &snapshot.endpoints[0];
        assert_eq!((e.requests, e.bytes_received), (4, 30));
        assert_eq!((e.body_bytes, e.body_bytes_sent), (10, 5_096));
        let mut failures: Vec<(&str, &str, u64)> = e
            .failures
            .iter()
            .map(|f| (f.kind.as_str(), f.message.as_str(), f.count))
            .collect();
        failures.sort();
        assert_eq!(
            failures,
            vec![
                ("connect", "connection refused", 1),
                ("status", "HTTP 500", 2)
            ]
        );
        let h = e.latency_us.decode().unwrap().unwrap();
        assert_eq!(h.len(), 4);
        assert_eq!(h.max(), h.highest_equivalent(6_000));
        let ttfb = e.ttfb_us.decode().unwrap().unwrap();
        assert_eq!(
            ttfb.len(),
            3,
            "a failure without a response has no first byte"
        );
        assert_eq!(ttfb.max(), ttfb.highest_equivalent(3_000));
        let next = recorder.take_snapshot(mark(2)).unwrap();
        assert!(next.endpoints.is_empty());
    }

    /// `record_n` counts as `count` calls of `record` with the same outcome:
    /// requests, failures and histogram counts, with `bytes` as the total.
    #[test]
    fn record_n_counts_like_repeated_records() {
        let mut recorder =
            Recorder::new(&[("GET".into(), "/".into())], false, Arc::from(Vec::new()));
        let ms = Duration::from_millis;
        recorder.record_n(0, 16, 160, status(500), ms(4), ms(4), Some(ms(2)));
        recorder.record(0, 10, None, ms(9), ms(9), Some(ms(1)));
        let snapshot = recorder.take_snapshot(mark(1)).unwrap();
        let e = &snapshot.endpoints[0];
        assert_eq!((e.requests, e.bytes_received), (17, 170));
        assert_eq!(e.failures[0].count, 16);
        let h = e.latency_us.decode().unwrap().unwrap();
        assert_eq!((h.len(), h.count_at(4_000)), (17, 16));
        assert_eq!(e.ttfb_us.decode().unwrap().unwrap().count_at(2_000), 16);
    }

    /// Open loop keeps latency from the intended time apart from service time.
    #[test]
    fn open_loop_keeps_both_times() {
        let mut recorder =
            Recorder::new(&[("GET".into(), "/".into())], true, Arc::from(Vec::new()));
        recorder.record(
            0,
            10,
            None,
            Duration::from_millis(250),
            Duration::from_millis(5),
            None,
        );
        recorder.record_dropped(3);
        recorder.record_lag(Duration::from_millis(7));
        let snapshot = recorder.take_snapshot(mark(1)).unwrap();
        assert_eq!(snapshot.dropped, 3);
        let lag = snapshot.sched_lag_us.decode().unwrap().unwrap();
        assert_eq!((lag.len(), lag.max()), (1, lag.highest_equivalent(7_000)));
        let e = &snapshot.endpoints[0];
        let latency = e.latency_us.decode().unwrap().unwrap();
        let service = e.service_us.as_ref().unwrap().decode().unwrap().unwrap();
        assert!(latency.min() >= 249_000);
        assert!(service.max() <= 5_100);
    }
}
