//! Metrics: per-worker counters, gauges and latency histograms, written on
//! the request path with plain cells (each worker owns its own), copied on
//! request by each worker and merged by the admin thread, which renders them
//! as Prometheus text, JSON or an HTML page (see `crate::admin`).

pub mod carry;
pub mod class;
pub mod clock;
pub mod inflight;
pub mod latency;
pub mod listen_queue;
pub mod meter;
pub mod snapshot;
pub mod table;
pub mod waiting;
pub mod worker_stats;

pub use meter::RequestMeter;
pub use snapshot::{Merged, WorkerSnapshot};
pub use worker_stats::WorkerStats;
