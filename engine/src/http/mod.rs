//! The HTTP/1.1 client: request encoding, response parsing and framing, one
//! connection's exchange loop, and the shard's pool of idle connections.
//!
//! Written for a load generator: a request is encoded once, a response is parsed
//! in place in the connection's read buffer and its body is only counted, and a
//! failed exchange becomes a [`Failure`] value (a named kind), never a string.
//! `https` origins run over rustls behind the same connection type.
//! monoio appears here and in `shard`, nowhere else.

pub mod body_block;
pub mod chunked;
pub mod client;
pub mod conn;
pub mod decode;
pub mod dial;
pub mod dns;
pub mod failure;
pub mod pool;
pub mod request;
pub mod response;
#[cfg(test)]
mod response_fuzz;
#[cfg(test)]
pub mod script;
pub mod sigv4;
pub mod stream;
pub mod tls;
pub mod tls_record;
#[cfg(test)]
mod tls_record_fuzz;
pub mod tls_stream;

pub use client::Client;
pub use conn::{Capture, Conn, Exchange, Limits};
pub use failure::Failure;
pub use pool::ConnPool;
pub use request::{encode_request, RequestSpec};
pub use response::{parse_head, BodyFraming, Head, HeadCache, HeadParse};
pub use stream::{Connector, Origin};
