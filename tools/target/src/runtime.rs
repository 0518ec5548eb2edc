//! Builds a shard's monoio runtime on the requested I/O driver and runs the
//! shard's future on it. io_uring is set up with SINGLE_ISSUER, COOP_TASKRUN
//! and DEFER_TASKRUN (a third faster than monoio's defaults here); when the
//! ring cannot be built under `Auto` (seccomp, old kernel, locked-memory limit)
//! the epoll driver runs instead. monoio's FusionDriver is not used because it
//! does not fall back when the ring fails after its probe succeeded.

use std::future::Future;
use std::io;

use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};

use crate::config::IoDriver;

/// Submission queue entries per ring: room for many connections' operations.
const RING_ENTRIES: u32 = 1024;

/// Runs `start(driver)` to completion on a new runtime of the chosen driver,
/// where `driver` is the one actually built (`Uring` or `Epoll`). Fails only
/// if no runtime could be built (or io_uring was demanded and is unavailable).
pub(crate) fn block_on<F, Fut>(choice: IoDriver, start: F) -> io::Result<Fut::Output>
where
    F: FnOnce(IoDriver) -> Fut,
    Fut: Future,
{
    if choice != IoDriver::Epoll {
        let mut ring = io_uring::IoUring::builder();
        ring.setup_single_issuer()
            .setup_coop_taskrun()
            .setup_defer_taskrun();
        let built = RuntimeBuilder::<IoUringDriver>::new()
            .uring_builder(ring)
            .with_entries(RING_ENTRIES)
            .enable_timer()
            .build();
        match built {
            Ok(mut runtime) => return Ok(runtime.block_on(start(IoDriver::Uring))),
            Err(err) if choice == IoDriver::Uring => {
                return Err(io::Error::new(
                    err.kind(),
                    format!("cannot set up io_uring ({err}); try --io-driver epoll"),
                ))
            }
            Err(_) => {}
        }
    }
    let mut runtime = RuntimeBuilder::<LegacyDriver>::new()
        .enable_timer()
        .build()?;
    Ok(runtime.block_on(start(IoDriver::Epoll)))
}
