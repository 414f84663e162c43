//! Upstream servers: connecting, the per-worker idle pool, and choosing a
//! server of a backend.

pub mod balance;
pub mod connect;
pub mod pool;
