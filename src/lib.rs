//! tern: an HTTP/1.1 reverse proxy and edge server on io_uring, thread per
//! core.
//!
//! # Layout
//!
//! `server` starts one `worker` per core (`pinning` decides whether each is
//! pinned), each on its own `runtime` with its own `listen` sockets. A worker
//! accepts (up to its share of the connection cap, see `rlimit`), runs
//! `admission` (PROXY header, per-client limits) and then `proxy::serve` per
//! connection: read a head (`http`), route it (`route`, with client `limits`),
//! and either answer (static `files`, `compress`ed or not; redirects; refusals)
//! or exchange with an `upstream` (pools, balancing, health, process-wide
//! server limits), relaying the response back. Everything a worker's
//! connections share is its `worker_ctx`: the `config::Plan` of its current
//! generation, the pool, the `metrics`. `reload` and `upgrade` replace plans and
//! processes without dropping connections; `discovery` re-resolves DNS names on
//! a thread of its own and applies answers as a reload; `admin` serves
//! /metrics, /status and the status page. Small leaf modules: `buffer`,
//! `timer`, `peek`, `log`, `access_log`, `html`, `shutdown`, `signals`, `tls`.
//! `acme` orders and renews certificates on a control thread of its own.
//! `fuzzing` holds the bodies of the fuzz targets in `fuzz/`.
//!
//! The lifecycle of a connection and a request, file by file, is in
//! `proxy`'s module docs. Known debt: the top-level modules still form one
//! import cycle (the structure issue); layering them is the next step.

pub mod access_log;
pub mod acme;
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
