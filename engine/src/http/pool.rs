//! The shard's idle keep-alive connections, per origin.
//!
//! The pool keeps connections between requests and hands out the most
//! recently used one first (warm, least likely to have been closed by the
//! server). It does not dial, time out or retry; the client does.

use super::conn::Conn;

/// Idle connections of one shard, indexed by origin.
#[derive(Default)]
pub struct ConnPool {
    /// One LIFO stack of idle connections per origin index.
    idle: Vec<Vec<Conn>>,
}

impl ConnPool {
    /// A pool for `origins` origins.
    pub fn new(origins: usize) -> Self {
        ConnPool {
            idle: (0..origins).map(|_| Vec::new()).collect(),
        }
    }

    /// Makes room for `origins` origins (redirects add some).
    pub fn ensure(&mut self, origins: usize) {
        while self.idle.len() < origins {
            self.idle.push(Vec::new());
        }
    }

    /// Takes the most recently returned idle connection to `origin`.
    pub fn take(&mut self, origin: usize) -> Option<Conn> {
        self.idle.get_mut(origin)?.pop()
    }

    /// Returns a connection that can carry another request.
    pub fn give(&mut self, origin: usize, conn: Conn) {
        if let Some(stack) = self.idle.get_mut(origin) {
            stack.push(conn);
        }
    }

    /// Idle connections held, over all origins.
    pub fn idle_count(&self) -> usize {
        self.idle.iter().map(Vec::len).sum()
    }

    /// Closes every idle connection.
    pub fn clear(&mut self) {
        self.idle.iter_mut().for_each(Vec::clear);
    }
}
