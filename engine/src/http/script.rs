//! A scripted byte stream for unit tests of the connection layer (test
//! builds only), after hyper's h1 mock: it yields given bytes in given
//! splits, one scripted piece per read, then the end, and records what was
//! written. The end can be clean (TCP's FIN, TLS's close_notify) or a cut
//! (TLS without close_notify), and a read or the writes can fail.
//!
//! `stream::Stream::Scripted` wraps it, so `conn` and `client` run their
//! real code over it; a scripted `Connector` dials scripts in turn.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use monoio::buf::{IoBuf, IoBufMut};

use super::failure::Failure;

/// What one read returns.
#[derive(Debug, Clone)]
enum Piece {
    /// These bytes (fewer if the reader's buffer has less room; the rest
    /// is the next read's).
    Bytes(Vec<u8>),
    /// This failure.
    Fail(Failure),
}

/// A scripted stream: reads in order, then the end.
#[derive(Debug, Default)]
pub struct Script {
    /// What the next reads return, in order; once empty, reads return 0.
    reads: VecDeque<Piece>,
    /// Every byte written, shared with the test that made the script.
    written: Rc<RefCell<Vec<u8>>>,
    /// Writes fail this way when set.
    write_failure: Option<Failure>,
    /// The end is a cut without close_notify (TLS), not a clean close.
    cut: bool,
}

impl Script {
    /// A stream that reads nothing but the end.
    pub fn new() -> Self {
        Script::default()
    }

    /// The next read returns `bytes` (nothing is scripted for none: a read
    /// of 0 bytes is the end).
    pub fn read(mut self, bytes: impl AsRef<[u8]>) -> Self {
        if !bytes.as_ref().is_empty() {
            self.reads.push_back(Piece::Bytes(bytes.as_ref().to_vec()));
        }
        self
    }

    /// `bytes` arrive in pieces cut at the offsets `at` (ascending).
    pub fn read_split(mut self, bytes: &[u8], at: &[usize]) -> Self {
        let mut start = 0;
        for &end in at.iter().chain([bytes.len()].iter()) {
            let end = end.clamp(start, bytes.len());
            if end > start {
                self = self.read(&bytes[start..end]);
            }
            start = end;
        }
        self
    }

    /// The next read fails with `failure`.
    pub fn fail_read(mut self, failure: Failure) -> Self {
        self.reads.push_back(Piece::Fail(failure));
        self
    }

    /// Every write fails with `failure`.
    pub fn fail_writes(mut self, failure: Failure) -> Self {
        self.write_failure = Some(failure);
        self
    }

    /// The stream ends with a cut, as TLS without close_notify.
    pub fn cut(mut self) -> Self {
        self.cut = true;
        self
    }

    /// What has been written to the stream, seen from the test.
    pub fn written(&self) -> Rc<RefCell<Vec<u8>>> {
        self.written.clone()
    }

    /// False when the script ends with a cut rather than a clean close.
    pub fn closed_cleanly(&self) -> bool {
        !self.cut
    }

    /// Serves the next scripted read into `buf`'s spare capacity.
    pub fn read_into<T: IoBufMut>(&mut self, mut buf: T) -> (Result<usize, Failure>, T) {
        let piece = match self.reads.pop_front() {
            None => return (Ok(0), buf),
            Some(Piece::Fail(failure)) => return (Err(failure), buf),
            Some(Piece::Bytes(bytes)) => bytes,
        };
        let room = buf.bytes_total();
        let n = piece.len().min(room);
        // SAFETY: write_ptr() is valid for bytes_total() bytes of writes and
        // `piece` is a separate allocation; the n bytes are then initialised.
        unsafe {
            std::ptr::copy_nonoverlapping(piece.as_ptr(), buf.write_ptr(), n);
            buf.set_init(n);
        }
        if n < piece.len() {
            self.reads.push_front(Piece::Bytes(piece[n..].to_vec()));
        }
        (Ok(n), buf)
    }

    /// Records all of `buf` as written (or fails as scripted).
    pub fn write_all<T: IoBuf>(&mut self, buf: T) -> (Result<usize, Failure>, T) {
        if let Some(failure) = self.write_failure {
            return (Err(failure), buf);
        }
        // SAFETY: read_ptr() is valid for bytes_init() bytes while `buf` lives.
        let data = unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) };
        self.written.borrow_mut().extend_from_slice(data);
        (Ok(data.len()), buf)
    }
}
