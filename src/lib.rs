//! tern: an HTTP/1.1 reverse proxy and edge server on io_uring, one pinned
//! worker per core. See DESIGN.md in the shared notes for the shape.

pub mod config;
pub mod http;
pub mod route;
