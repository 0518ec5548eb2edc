//! Choosing and building a shard's I/O runtime: io_uring, or epoll where the
//! kernel or a seccomp profile forbids it.
//!
//! monoio's own fusion builder probes io_uring but does not fall back when the
//! full ring then fails to set up (e.g. too little locked memory), and its
//! default ring flags cost a third of the throughput. So the ring is built
//! here with SINGLE_ISSUER | COOP_TASKRUN | DEFER_TASKRUN, retried without
//! them, and the legacy (epoll) driver is the last resort.

use std::fmt;
use std::future::Future;
use std::io;

use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};
use serde::Serialize;

/// Which driver a run asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IoDriver {
    /// io_uring when it works, else epoll.
    Auto,
    /// io_uring or fail.
    Uring,
    /// epoll only.
    Epoll,
}

impl IoDriver {
    /// Parses `auto`, `uring` (or `io_uring`) and `epoll`.
    pub fn parse(text: &str) -> Result<IoDriver, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(IoDriver::Auto),
            "uring" | "io_uring" | "iouring" => Ok(IoDriver::Uring),
            "epoll" | "legacy" => Ok(IoDriver::Epoll),
            _ => Err(format!(
                "unknown io driver '{text}' (use auto, uring or epoll)"
            )),
        }
    }
}

/// Which driver a shard actually runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverKind {
    /// io_uring with the fast ring flags.
    IoUring,
    /// io_uring with the kernel's default flags (older kernels).
    IoUringPlain,
    /// epoll.
    Epoll,
}

impl fmt::Display for DriverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DriverKind::IoUring => "io_uring",
            DriverKind::IoUringPlain => "io_uring (default flags)",
            DriverKind::Epoll => "epoll",
        })
    }
}

/// Submission queue entries per ring.
const RING_ENTRIES: u32 = 4096;

/// Builds a runtime for `driver` on the current thread and runs the future
/// made by `make` to completion on it.
pub fn block_on<F, Fut>(driver: IoDriver, make: F) -> io::Result<Fut::Output>
where
    F: FnOnce(DriverKind) -> Fut,
    Fut: Future,
{
    if driver != IoDriver::Epoll {
        let mut last_error = None;
        if monoio::utils::detect_uring() {
            for kind in [DriverKind::IoUring, DriverKind::IoUringPlain] {
                let mut ring = io_uring::IoUring::builder();
                if kind == DriverKind::IoUring {
                    ring.setup_single_issuer()
                        .setup_coop_taskrun()
                        .setup_defer_taskrun();
                }
                let built = RuntimeBuilder::<IoUringDriver>::new()
                    .uring_builder(ring)
                    .with_entries(RING_ENTRIES)
                    .enable_timer()
                    .build();
                match built {
                    Ok(mut rt) => return Ok(rt.block_on(make(kind))),
                    Err(e) => last_error = Some(e),
                }
            }
        }
        if driver == IoDriver::Uring {
            let reason =
                last_error.map_or_else(|| "not permitted on this system".into(), |e| e.to_string());
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("io_uring unavailable: {reason}"),
            ));
        }
    }
    let mut rt = RuntimeBuilder::<LegacyDriver>::new()
        .enable_timer()
        .build()?;
    Ok(rt.block_on(make(DriverKind::Epoll)))
}

/// True when an io_uring runtime can be built on this thread.
pub fn uring_available() -> bool {
    block_on(IoDriver::Uring, |_| async {}).is_ok()
}

// The shard's runtime facade: the only timer and task calls the rest of the
// engine makes, so monoio's types stay in `shard/` and `http/`'s connections.

/// Sleeps for `duration` on the current shard.
pub async fn sleep(duration: std::time::Duration) {
    monoio::time::sleep(duration).await
}

/// Sleeps until the wall-clock instant `at` on the current shard.
pub async fn sleep_until(at: std::time::Instant) {
    monoio::time::sleep_until(monoio::time::Instant::from_std(at)).await
}

/// Runs `future` as a task of its own on the current shard.
pub fn spawn<F>(future: F)
where
    F: Future + 'static,
    F::Output: 'static,
{
    monoio::spawn(future);
}

/// `future`'s output, or `None` if it takes longer than `limit`.
pub async fn timeout<F: Future>(limit: std::time::Duration, future: F) -> Option<F::Output> {
    monoio::time::timeout(limit, future).await.ok()
}

/// Why [`timeout_idle`] gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// The whole limit passed.
    Total,
    /// Nothing happened for the idle limit.
    Idle,
}

/// Runs `future` for at most `total`, and, with `idle`, until `activity`
/// (a time the future moves forward as it makes progress, e.g. each read)
/// is more than `idle` in the past. One timer at a time, re-armed only when
/// it fires early: without `idle` this costs what [`timeout`] does.
pub async fn timeout_idle<F: Future>(
    total: std::time::Duration,
    idle: Option<std::time::Duration>,
    activity: &std::cell::Cell<std::time::Instant>,
    future: F,
) -> Result<F::Output, Expired> {
    let start = std::time::Instant::now();
    let deadline = start + total;
    let mut future = std::pin::pin!(future);
    loop {
        let idle_deadline = idle.map(|idle| activity.get().max(start) + idle);
        let wake_at = idle_deadline.map_or(deadline, |at| at.min(deadline));
        let at = monoio::time::Instant::from_std(wake_at);
        if let Ok(output) = monoio::time::timeout_at(at, future.as_mut()).await {
            return Ok(output);
        }
        let now = std::time::Instant::now();
        if now >= deadline {
            return Err(Expired::Total);
        }
        if let Some(idle) = idle {
            if now >= activity.get().max(start) + idle {
                return Err(Expired::Idle);
            }
        }
    }
}
