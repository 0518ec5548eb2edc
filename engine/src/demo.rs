//! `stampede demo`: the embedded stampede-target, so a fresh checkout can see
//! a whole run without any server of its own.

use std::io;
use std::net::SocketAddr;

use stampede_target::{Target, TargetConfig};

/// Starts stampede-target in this process on a free loopback port.
pub fn start_target(threads: usize) -> io::Result<Target> {
    let listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    Target::start(TargetConfig {
        listen,
        threads: threads.max(1),
        ..TargetConfig::default()
    })
}
