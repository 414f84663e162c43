//! Upstream servers: connecting, the per-worker idle pool, choosing a
//! server (balance, sticky, health, limits) and the health checker.

pub mod balance;
pub mod checker;
pub mod connect;
pub mod doorbell;
pub mod hash;
pub mod health;
pub mod limit;
pub mod pick;
pub mod pool;
pub mod queue;
pub mod rng;
pub mod server_state;
pub mod state;
pub mod sticky;
