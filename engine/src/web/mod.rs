//! The web side: control API, page and downloads, served from the control
//! thread side and reading only what the run loop publishes, never a shard.

pub mod http;
