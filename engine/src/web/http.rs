//! Minimal HTTP/1.1 server pieces for the control API (placeholder).
