//! The control API's blocking HTTP/1.1 server: one thread accepts, one thread
//! per connection serves.
//!
//! It owns everything between the socket and a route: request parsing
//! (Content-Length bodies only, keep-alive, pipelining), the limits that keep
//! a hostile client cheap (connections, head and body sizes, read and write
//! timeouts), HTTP basic auth, the same-origin check on state-changing
//! requests, and response writing (framed bodies and close-delimited streams
//! such as Server-Sent Events). It knows no route: what a request means, and
//! which content types a route takes, is `web::api`'s job, behind [`Handler`].
//!
//! The parts, by concept:
//! - `request`: [`Request`], parsing a request head, the head and body
//!   limits, and form and query decoding.
//! - `response`: [`Response`] and [`Body`], and writing them to a socket.
//! - `auth`: basic auth, base64, the constant-time compare, the origin check.
//! - `conn`: one connection's life: read a request, check it, answer it,
//!   keep the connection or close it.
//! - `server`: [`serve`], the accept loop, the connection limit, and
//!   [`ServerHandle`] with its shutdown.

mod auth;
mod conn;
mod request;
mod response;
mod server;
#[cfg(test)]
mod tests;

pub use request::Request;
pub use response::{Body, Producer, Response};
pub use server::{serve, Handler, ServerHandle, ServerOptions};
