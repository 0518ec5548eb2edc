//! Target addresses: resolving host names, `--resolve` overrides, the
//! `--dns-ttl` refresh, and which address the next connection goes to.
//!
//! A host is resolved once at start; its addresses live in a [`HostAddrs`]
//! shared by every shard and, with `--dns-ttl`, replaced by a background
//! [`Refresher`] thread (never a shard: `getaddrinfo` blocks). A shard reads
//! the current set only when it dials, and spreads its new connections over
//! the set round-robin ([`pick`]). Dialing itself is `stream`'s job.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Longest single sleep of the refresher, so a stop is noticed promptly.
const REFRESH_SLICE: Duration = Duration::from_millis(100);

/// The addresses one host name (and port) stands for, shared by all shards.
#[derive(Debug)]
pub struct HostAddrs {
    /// The host as written in the URL (a name or an IP literal).
    pub host: String,
    /// The port connections go to.
    pub port: u16,
    /// True when the set must not be re-resolved (an IP literal or `--resolve`).
    pinned: bool,
    /// The current set; replaced whole by a refresh, never empty.
    current: RwLock<Arc<[SocketAddr]>>,
}

impl HostAddrs {
    /// A fixed set of addresses that is never re-resolved.
    pub fn fixed(host: &str, port: u16, addrs: Vec<SocketAddr>) -> Arc<HostAddrs> {
        Arc::new(HostAddrs {
            host: host.to_string(),
            port,
            pinned: true,
            current: RwLock::new(addrs.into()),
        })
    }

    /// Resolves `host:port`, unless `overrides` (`--resolve`) names the host;
    /// an IP literal or an override is pinned.
    pub fn resolve(
        host: &str,
        port: u16,
        overrides: &[(String, Vec<IpAddr>)],
    ) -> Result<Arc<HostAddrs>, String> {
        if let Some((_, ips)) = overrides
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(host))
        {
            let addrs = ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
            return Ok(HostAddrs::fixed(host, port, addrs));
        }
        let addrs = lookup(host, port).map_err(|e| format!("cannot resolve '{host}': {e}"))?;
        let pinned = host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok();
        Ok(Arc::new(HostAddrs {
            host: host.to_string(),
            port,
            pinned,
            current: RwLock::new(addrs.into()),
        }))
    }

    /// The current addresses (a reference-count increment; no allocation).
    pub fn current(&self) -> Arc<[SocketAddr]> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Resolves the name again and, when that gives any address, makes the
    /// result the current set. A failed lookup keeps the old set.
    pub fn refresh(&self) -> io::Result<()> {
        if self.pinned {
            return Ok(());
        }
        let addrs = lookup(&self.host, self.port)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = addrs.into();
        Ok(())
    }
}

/// Resolves `host:port` to every address of the family the resolver lists
/// first, in its order, without duplicates. Mixing families would send half
/// the connections of `localhost` to `::1` when the target listens on
/// 127.0.0.1 only; `--resolve` may still mix them on purpose.
fn lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let all: Vec<SocketAddr> = (host.trim_matches(['[', ']']), port)
        .to_socket_addrs()?
        .collect();
    let Some(first) = all.first() else {
        return Err(io::Error::new(io::ErrorKind::NotFound, "no address"));
    };
    let v4 = first.is_ipv4();
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for addr in all.into_iter().filter(|a| a.is_ipv4() == v4) {
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    Ok(addrs)
}

/// The address a shard's `turn`-th new connection to an origin goes to:
/// round-robin over the current set. `None` for an empty set.
pub fn pick(addrs: &[SocketAddr], turn: usize) -> Option<SocketAddr> {
    (!addrs.is_empty()).then(|| addrs[turn % addrs.len()])
}

/// Whether a refresh is due `now` when the last one was at `last`, with
/// `ttl` between refreshes (`None`: resolve once, never again).
pub fn refresh_due(last: Instant, now: Instant, ttl: Option<Duration>) -> bool {
    ttl.is_some_and(|ttl| now.saturating_duration_since(last) >= ttl)
}

/// Parses `--resolve NAME:ADDR[,ADDR...]` entries, separated by spaces or
/// newlines (curl's form without the port: the URL's port is used).
pub fn parse_overrides(text: &str) -> Result<Vec<(String, Vec<IpAddr>)>, String> {
    let mut overrides = Vec::new();
    for entry in text
        .split([' ', '\n'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let bad =
            || format!("'{entry}' is not NAME:ADDR[,ADDR...], e.g. cdn.test:127.0.0.1,127.0.0.2");
        let (name, list) = entry.split_once(':').ok_or_else(bad)?;
        if name.is_empty() {
            return Err(bad());
        }
        let ips = list
            .split(',')
            .map(|ip| ip.trim().trim_matches(['[', ']']).parse::<IpAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| bad())?;
        if ips.is_empty() {
            return Err(bad());
        }
        overrides.push((name.to_string(), ips));
    }
    Ok(overrides)
}

/// Re-resolves a run's hosts every `--dns-ttl` on its own thread; stops when dropped.
pub struct Refresher {
    /// Set to end the thread.
    stop: Arc<AtomicBool>,
    /// The thread, joined on drop.
    thread: Option<JoinHandle<()>>,
}

impl Refresher {
    /// Starts refreshing `hosts` every `ttl`; `None` when there is nothing to do.
    pub fn start(hosts: Vec<Arc<HostAddrs>>, ttl: Option<Duration>) -> Option<Refresher> {
        let hosts: Vec<_> = hosts.into_iter().filter(|h| !h.pinned).collect();
        if ttl.is_none() || hosts.is_empty() {
            return None;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("stampede-dns".into())
            .spawn(move || {
                let mut last = Instant::now();
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(REFRESH_SLICE);
                    if refresh_due(last, Instant::now(), ttl) {
                        last = Instant::now();
                        // A failed lookup keeps the previous addresses.
                        hosts.iter().for_each(|h| drop(h.refresh()));
                    }
                }
            })
            .ok()?;
        Some(Refresher {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Refresher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    /// New connections go round-robin over every address; an empty set gives none.
    #[test]
    fn pick_spreads_round_robin() {
        let set = [
            addr("127.0.0.1:80"),
            addr("127.0.0.2:80"),
            addr("127.0.0.3:80"),
        ];
        let picked: Vec<_> = (0..6).map(|turn| pick(&set, turn).unwrap()).collect();
        assert_eq!(picked, [set[0], set[1], set[2], set[0], set[1], set[2]]);
        let mut counts = [0; 3];
        for turn in 5..5 + 300 {
            counts[set
                .iter()
                .position(|a| *a == pick(&set, turn).unwrap())
                .unwrap()] += 1;
        }
        assert_eq!(counts, [100, 100, 100]);
        assert_eq!(pick(&[], 4), None);
    }

    /// Without a TTL nothing is refreshed; with one, a refresh is due once it has passed.
    #[test]
    fn refresh_follows_the_ttl() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        assert!(!refresh_due(t0, t0 + s(3600), None));
        assert!(!refresh_due(t0, t0 + s(29), Some(s(30))));
        assert!(refresh_due(t0, t0 + s(30), Some(s(30))));
        assert!(
            !refresh_due(t0 + s(5), t0, Some(s(1))),
            "a clock going back is not due"
        );
    }

    /// `--resolve` entries parse, pin the name to their addresses, and bad ones are refused.
    #[test]
    fn overrides_pin_a_name() {
        let overrides = parse_overrides("cdn.test:127.0.0.1,127.0.0.2 v6.test:[::1]").unwrap();
        assert_eq!(
            overrides[1],
            ("v6.test".into(), vec!["::1".parse().unwrap()])
        );
        let host = HostAddrs::resolve("CDN.test", 8080, &overrides).unwrap();
        assert_eq!(
            &*host.current(),
            &[addr("127.0.0.1:8080"), addr("127.0.0.2:8080")]
        );
        host.refresh().unwrap();
        assert_eq!(host.current().len(), 2, "an override is never re-resolved");
        for bad in ["cdn.test", ":127.0.0.1", "cdn.test:", "cdn.test:1.2.3"] {
            assert!(parse_overrides(bad).is_err(), "{bad}");
        }
    }

    /// A real name resolves to addresses of one family, and a refresh keeps a usable set.
    #[test]
    fn localhost_resolves_and_refreshes() {
        let host = HostAddrs::resolve("localhost", 80, &[]).unwrap();
        let first = host.current();
        assert!(!first.is_empty());
        assert!(first.iter().all(|a| a.is_ipv4() == first[0].is_ipv4()));
        host.refresh().unwrap();
        assert_eq!(host.current(), first);
        assert!(HostAddrs::resolve("127.0.0.1", 80, &[]).unwrap().pinned);
    }
}
