//! Which process holds the client end of a loopback TCP connection, read
//! from Linux's `/proc/net/tcp` (the socket's inode) and `/proc/PID/fd`
//! (who has that inode open), so a test server can tell which of several
//! processes sent a request.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The id of a process that has the socket of `client` (its local address)
/// connected to `server` open, if `/proc` shows one.
pub fn owner_of(client: SocketAddr, server: SocketAddr) -> Option<u32> {
    let inode = inode_of(client, server)?;
    let wanted = format!("socket:[{inode}]");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path())
                .is_ok_and(|target| target.as_os_str() == wanted.as_str())
            {
                return Some(pid);
            }
        }
    }
    None
}

/// The inode of the IPv4 socket `client` -> `server` in `/proc/net/tcp`.
fn inode_of(client: SocketAddr, server: SocketAddr) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (local, remote, inode) = (fields.get(1)?, fields.get(2)?, fields.get(9)?);
        (parse(local)? == client && parse(remote)? == server)
            .then(|| inode.parse().ok())
            .flatten()
    })
}

/// `0100007F:1F90` (the address as the kernel's little-endian word, the
/// port in hex) as a socket address.
fn parse(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let ip = u32::from_str_radix(ip, 16).ok()?;
    let port = u16::from_str_radix(port, 16).ok()?;
    Some(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::from(ip.to_le_bytes())),
        port,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This process is found as the owner of its own client socket, and a
    /// socket that does not exist has no owner.
    #[test]
    fn finds_this_process() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(server).unwrap();
        let (_accepted, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert_eq!(owner_of(peer, server), Some(std::process::id()));
        assert_eq!(
            parse("0100007F:1F90"),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        drop(client);
        let gone: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(owner_of(gone, server), None);
    }
}
