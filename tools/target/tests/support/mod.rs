//! A minimal blocking HTTP/1.1 client for the tests: writes raw requests and
//! reads responses framed by Content-Length, chunked encoding or EOF. Every
//! read has a timeout so a broken server fails a test instead of hanging it.

#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long any single read or write may block.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// One parsed response.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names lower-cased, values as text.
    pub headers: Vec<(String, String)>,
    /// The decoded body.
    pub body: Vec<u8>,
    /// How many chunks a chunked body came in (0 otherwise).
    pub chunks: usize,
}

impl Response {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A keep-alive connection with its unread bytes.
pub struct Client {
    /// The socket.
    pub stream: TcpStream,
    /// Bytes read but not yet consumed.
    buf: Vec<u8>,
}

impl Client {
    /// Connects to a loopback address with timeouts set.
    pub fn connect(addr: SocketAddr) -> Client {
        assert!(addr.ip().is_loopback(), "tests only talk to loopback");
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Sends `GET path` and reads the response.
    pub fn get(&mut self, path: &str) -> Response {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        self.read_response()
            .unwrap_or_else(|err| panic!("GET {path}: {err} ({:?})", err.kind()))
    }

    /// Sends `method path` with extra headers and a Content-Length body, and reads the response.
    pub fn call(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: t\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body);
        self.send(&bytes);
        self.read_response()
            .unwrap_or_else(|err| panic!("{method} {path}: {err} ({:?})", err.kind()))
    }

    /// Reads one response; an error if the connection ends or breaks first.
    pub fn read_response(&mut self) -> io::Result<Response> {
        self.read_response_to(false)
    }

    /// Reads one response to a HEAD request (no body whatever the headers say).
    pub fn read_head_response(&mut self) -> io::Result<Response> {
        self.read_response_to(true)
    }

    fn read_response_to(&mut self, head_only: bool) -> io::Result<Response> {
        let (status, headers, head_len) = loop {
            let mut fields = [httparse::EMPTY_HEADER; 64];
            let mut parsed = httparse::Response::new(&mut fields);
            match parsed.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let headers = parsed
                        .headers
                        .iter()
                        .map(|h| {
                            let value = String::from_utf8_lossy(h.value).into_owned();
                            (h.name.to_ascii_lowercase(), value)
                        })
                        .collect::<Vec<_>>();
                    break (parsed.code.unwrap_or(0), headers, n);
                }
                Ok(httparse::Status::Partial) => self.fill()?,
                Err(err) => return Err(io::Error::new(io::ErrorKind::InvalidData, err)),
            }
        };
        self.buf.drain(..head_len);
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
            chunks: 0,
        };
        let no_body = head_only || status == 204 || status == 304 || status < 200;
        if no_body {
        } else if response.header("transfer-encoding") == Some("chunked") {
            self.read_chunked(&mut response)?;
        } else if let Some(len) = response.header("content-length") {
            let len: usize = len.parse().map_err(|_| io::ErrorKind::InvalidData)?;
            while self.buf.len() < len {
                self.fill()?;
            }
            response.body = self.buf.drain(..len).collect();
        } else {
            loop {
                match self.fill() {
                    Ok(()) => {}
                    Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(err) => return Err(err),
                }
            }
            response.body = std::mem::take(&mut self.buf);
        }
        Ok(response)
    }

    fn read_chunked(&mut self, response: &mut Response) -> io::Result<()> {
        loop {
            let line_end = loop {
                if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                self.fill()?;
            };
            let size = std::str::from_utf8(&self.buf[..line_end])
                .map_err(|_| io::ErrorKind::InvalidData)?;
            let size = usize::from_str_radix(size, 16).map_err(|_| io::ErrorKind::InvalidData)?;
            self.buf.drain(..line_end + 2);
            while self.buf.len() < size + 2 {
                self.fill()?;
            }
            if size == 0 {
                assert_eq!(&self.buf[..2], b"\r\n", "no trailers expected");
                self.buf.drain(..2);
                return Ok(());
            }
            response.body.extend(self.buf.drain(..size));
            assert_eq!(&self.buf[..2], b"\r\n", "chunk must end with CRLF");
            self.buf.drain(..2);
            response.chunks += 1;
        }
    }

    /// Reads more bytes; `UnexpectedEof` when the server closed.
    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 64 * 1024];
        // Child processes exiting (SIGCHLD) can interrupt a blocking read.
        let n = loop {
            match self.stream.read(&mut chunk) {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                result => break result?,
            }
        };
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Waits for the server to close: true on a clean EOF, false on a reset.
    /// Panics if the server sends more bytes or stays open past the timeout.
    pub fn expect_closed(&mut self) -> bool {
        assert!(
            self.buf.is_empty(),
            "unread bytes: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        let mut byte = [0u8; 1];
        let read = loop {
            match self.stream.read(&mut byte) {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                result => break result,
            }
        };
        match read {
            Ok(0) => true,
            Ok(_) => panic!("server sent more bytes instead of closing"),
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset => false,
            Err(err) => panic!("connection neither closed nor reset: {err}"),
        }
    }
}

/// The counters from `GET /__stats` on a fresh connection: (requests, connections).
pub fn stats(addr: SocketAddr) -> (u64, u64) {
    let response = Client::connect(addr).get("/__stats");
    assert_eq!(response.status, 200);
    let text = String::from_utf8(response.body).expect("utf-8 json");
    let number = |key: &str| -> u64 {
        let start = text.find(key).unwrap_or_else(|| panic!("{key} in {text}")) + key.len();
        let digits: String = text[start..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().expect("a number")
    };
    (number("\"requests\": "), number("\"connections\": "))
}
