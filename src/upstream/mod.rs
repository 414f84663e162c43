//! Upstream servers: connecting, the per-worker idle pool, choosing a
//! server (balance, sticky, health, limits). The types a plan holds of
//! backends and servers are defined here (`backend`) and built by `config`;
//! the health checker thread that probes them is `crate::health_checker`.

pub mod backend;
pub mod balance;
pub mod connect;
pub mod hash;
pub mod health;
pub mod limit;
pub mod pick;
pub mod pool;
pub mod rng;
pub mod server_state;
pub mod state;
pub mod sticky;
