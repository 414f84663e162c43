//! tern: a reverse proxy and edge server on io_uring, thread per core:
//! HTTP/1.1 and HTTP/2 to clients, HTTP/1.1 to upstreams.
//!
//! # Layout
//!
//! `server` starts one `worker` per core (`pinning` decides whether each is
//! pinned), each on its own `runtime` with its own `listen` sockets. A worker
//! accepts (up to its share of the connection cap, see `rlimit` and
//! `config::plan::connection_cap`), runs `admission` (PROXY header,
//! per-client limits) and then `proxy::serve` per connection, inside
//! `contain`ment of panics: read a head (`http`) from the client's `conn`,
//! route it (`route`, with client `limits`), and either answer (static
//! `files`, `compress`ed or not; redirects; refusals) or exchange with an
//! `upstream` (pools, balancing, health, process-wide server limits),
//! relaying the response back; a request that fails is a `failure`, which
//! decides its status, log line and retry. Everything a worker's connections
//! share is its `worker_ctx`: the `config::Plan` of its current generation,
//! the pool, the `metrics`, the `access_log`. `reload` and `upgrade` replace
//! plans and processes without dropping connections (`control` is how a
//! reload or stop is asked for); `discovery` re-resolves DNS names on a thread
//! of its own and applies answers as a reload; `health_checker` probes
//! servers on another; `admin` serves /metrics, /status and the status page.
//! Small leaf modules: `buffer`, `timer`, `peek`, `log`, `html`, `shutdown`,
//! `signals`, `tls`, `edge_counts`, `one_or_many`, `operator_file` (the
//! config, certificates and keys: regular files only, and capped), `doorbell` (how another
//! thread wakes a worker's waiting tasks: file threads, server slots). `acme` orders and renews certificates
//! on a control thread of its own. `fuzzing` holds the bodies of the fuzz
//! targets in `fuzz/`.
//!
//! The lifecycle of a connection and of a request, file by file, is in
//! `src/proxy/LIFECYCLE.md`.
//!
//! # Layers
//!
//! Top-level modules, lowest first. A module may import only modules listed
//! before it; `tests/layers.rs` fails on an import of one listed after it, so
//! no import cycle can come back unnoticed. A new module gets a place here.
//!
//! 1. Leaves: `allocator` `buffer` `timer` `peek` `log` `html` `shutdown`
//!    `signals` `cli` `pinning` `runtime` `one_or_many` `operator_file` `acme`
//!    `tls` `control`
//!    `edge_counts` `doorbell`
//! 2. Bytes and HTTP: `http` `conn` `failure` `compress` `files` `limits`
//!    `proxy_protocol` `route` `discovery` `rlimit` `upstream`
//! 3. The plan and what counts it: `contain` `config` `access_log` `metrics`
//!    `admission` `listen` `worker_ctx`
//! 4. Serving: `proxy`
//! 5. Running: `worker` `admin` `reload` `health_checker` `upgrade` `server`
//!    `fuzzing`

// What is true of the code today, locked in: every `unsafe` block says why
// it is sound, and nothing outside tests unwraps (a client, an upstream or
// a config file must never be able to panic a worker through one).
#![cfg_attr(
    not(test),
    deny(
        clippy::undocumented_unsafe_blocks,
        clippy::unwrap_used,
        clippy::expect_used
    )
)]

/// tern's version, as `tern --version`, the start line and /status say it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The commit the binary was built from (`3e2a46b`, `3e2a46b + changes`), empty when built
/// without git; build.rs finds it.
pub const BUILD_COMMIT: &str = env!("TERN_BUILD_COMMIT");

/// The version and, where known, the commit: `0.1.0 (3e2a46b)`.
pub fn version_and_build() -> String {
    if BUILD_COMMIT.is_empty() {
        VERSION.to_string()
    } else {
        format!("{VERSION} ({BUILD_COMMIT})")
    }
}

pub mod access_log;
pub mod acme;
pub mod admin;
pub mod admission;
pub mod allocator;
pub mod buffer;
pub mod cli;
pub mod compress;
pub mod config;
pub mod conn;
pub mod contain;
pub mod control;
pub mod discovery;
pub mod doorbell;
pub mod edge_counts;
pub mod failure;
pub mod files;
#[doc(hidden)]
pub mod fuzzing;
pub mod health_checker;
pub mod html;
pub mod http;
pub mod limits;
pub mod listen;
pub mod log;
pub mod metrics;
pub mod one_or_many;
pub mod operator_file;
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
