//! tern: an HTTP/1.1 reverse proxy and edge server on io_uring, one
//! worker per core. The shape: `server` starts `worker`s; each accepts and
//! runs `proxy::serve` per connection, which parses with `http`, routes with
//! `route` and talks to `upstream`s, all configured by a `config::Plan`.

pub mod access_log;
pub mod admin;
pub mod admission;
pub mod buffer;
pub mod cli;
pub mod compress;
pub mod config;
pub mod discovery;
pub mod files;
#[doc(hidden)]
pub mod fuzzing;
pub mod html;
pub mod http;
pub mod limits;
pub mod listen;
pub mod log;
pub mod metrics;
pub mod peek;
pub mod pinning;
pub mod proxy;
pub mod proxy_protocol;
pub mod reload;
pub mod rlimit;
pub mod route;
pub mod runtime;
pub mod server;
pub mod shutdown;
pub mod signals;
pub mod timer;
pub mod tls;
pub mod upgrade;
pub mod upstream;
pub mod worker;
pub mod worker_ctx;
