//! Scenarios compiled into a [`Plan`]: what each virtual user sends, in order.
//!
//! Today a plan is built from the command line (one request to one URL);
//! scenario files compile into the same shape. The plan is immutable and
//! shared read-only by every shard: requests are encoded once, here.

use std::net::SocketAddr;

use crate::config::RunConfig;
use crate::http::{encode_request, RequestSpec};

/// One request a user sends, encoded once.
#[derive(Debug, Clone)]
pub struct PlannedRequest {
    /// Index into the plan's endpoints, for stats.
    pub endpoint: usize,
    /// Index into the plan's origins, for the connection pool.
    pub origin: usize,
    /// The request's bytes on the wire.
    pub bytes: Vec<u8>,
    /// HEAD requests get responses without a body.
    pub is_head: bool,
}

/// A compiled scenario.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Socket address of each origin.
    pub origins: Vec<SocketAddr>,
    /// (method, name) of each endpoint, as reported.
    pub endpoints: Vec<(String, String)>,
    /// What one user iteration sends, in order.
    pub requests: Vec<PlannedRequest>,
}

impl Plan {
    /// The plan of a single-URL run: every iteration sends one request.
    pub fn single_request(config: &RunConfig) -> Plan {
        let spec = RequestSpec {
            method: config.method.clone(),
            path: config.target.path.clone(),
            host: config.target.authority.clone(),
            headers: config.headers.clone(),
            body: config.body.clone().into_bytes(),
        };
        let name = config.target.path.clone();
        Plan {
            origins: vec![config.target.addr],
            endpoints: vec![(config.method.clone(), name)],
            requests: vec![PlannedRequest {
                endpoint: 0,
                origin: 0,
                bytes: encode_request(&spec),
                is_head: config.method == "HEAD",
            }],
        }
    }
}
