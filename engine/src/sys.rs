//! What the run needs from the operating system: the open-file limit, CPU
//! time and peak memory of the process and of each shard thread.

use std::io;

/// The open-file limit after trying to raise it.
#[derive(Debug, Clone, Copy)]
pub struct FdLimit {
    /// Soft limit now in force.
    pub soft: u64,
    /// Hard limit now in force.
    pub hard: u64,
}

/// Raises RLIMIT_NOFILE's soft limit to the hard one; when `needed` is more
/// than that and the process may (root), raises the hard limit too, up to
/// fs.nr_open. Returns the limit now in force.
pub fn raise_fd_limit(needed: u64) -> io::Result<FdLimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if needed > limit.rlim_max {
        let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(limit.rlim_max);
        let wanted = needed.min(nr_open).max(limit.rlim_max);
        let raised = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: wanted,
        };
        // SAFETY: setrlimit reads the struct; failure (not root) is fine.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    Ok(FdLimit {
        soft: limit.rlim_cur,
        hard: limit.rlim_max,
    })
}

/// CPU time (user + system) and peak RSS of the whole process so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessUsage {
    /// User plus system CPU seconds.
    pub cpu_seconds: f64,
    /// Peak resident set size in KiB.
    pub max_rss_kb: u64,
}

/// Reads this process's resource usage.
pub fn process_usage() -> ProcessUsage {
    // SAFETY: an all-zero rusage is a valid value for getrusage to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return ProcessUsage::default();
    }
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    ProcessUsage {
        cpu_seconds: secs(usage.ru_utime) + secs(usage.ru_stime),
        max_rss_kb: usage.ru_maxrss.max(0) as u64,
    }
}

/// CPU time used by the calling thread, in microseconds.
pub fn thread_cpu_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the struct we own.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

/// Time the calling thread has spent ready to run but waiting for a CPU
/// (the kernel's run-queue delay, `/proc/thread-self/schedstat`), in
/// microseconds; 0 where the kernel does not keep it. Read once a second
/// per shard, never per request.
pub fn thread_wait_us() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |ns| ns / 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Raising never lowers the limit, and the soft limit ends at the hard one.
    #[test]
    fn raise_keeps_soft_at_hard() {
        let limit = raise_fd_limit(64).unwrap();
        assert!(limit.soft >= 64);
        assert_eq!(limit.soft, limit.hard);
    }

    /// Thread CPU time advances while the thread works.
    #[test]
    fn thread_wait_is_read_and_monotonic() {
        let before = thread_wait_us();
        std::thread::yield_now();
        assert!(thread_wait_us() >= before);
    }

    #[test]
    fn thread_cpu_advances() {
        let before = thread_cpu_us();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(thread_cpu_us() > before);
    }
}
