//! The admin endpoint's structured view: what `/status` serves as JSON and
//! the HTML page shows, built from the plan, the merged worker snapshots and
//! the servers' admin states.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::Plan;
use crate::conn::wire::FLOW_LABELS;
use crate::metrics::class::{CLASSES, CLASS_NAMES};
use crate::metrics::latency::LatencyCopy;
use crate::metrics::Merged;
use crate::upstream::server_state::{AdminState, ServerStates};

/// Requests by status class, plus `total`.
pub type Classes = BTreeMap<&'static str, u64>;

#[derive(Serialize)]
pub struct Status {
    pub version: &'static str,
    /// The commit the binary was built from (empty without git).
    pub build_commit: &'static str,
    pub uptime_seconds: u64,
    /// This process's id: after a binary upgrade, which process answers.
    pub pid: u32,
    pub workers: usize,
    pub workers_reporting: usize,
    pub totals: Totals,
    pub listeners: Vec<ListenerStatus>,
    pub routes: Vec<RouteStatus>,
    pub backends: Vec<BackendStatus>,
    pub per_worker: Vec<WorkerStatus>,
    /// ACME certificates: expiry and failed orders.
    pub certificates: Vec<crate::acme::CertStatus>,
}

#[derive(Serialize)]
pub struct Totals {
    pub requests: Classes,
    /// The same requests, by the client's protocol.
    pub requests_http1: Classes,
    pub requests_http2: Classes,
    pub requests_per_second: f64,
    pub connections: Connections,
    /// Requests waiting on an upstream for a response head, and those of
    /// them waiting longer than about a second (long-polls).
    pub upstream_waiting: u64,
    pub long_polls: u64,
    pub tunnels_open: u64,
    pub tunnels_total: u64,
    pub bytes: BTreeMap<String, u64>,
}

#[derive(Serialize)]
pub struct Connections {
    pub accepted: u64,
    /// Open with a request in flight.
    pub active: u64,
    /// Open and waiting for a request (keep-alive).
    pub idle: u64,
}

#[derive(Serialize)]
pub struct ListenerStatus {
    pub name: String,
    pub requests: Classes,
    pub accept_queue: u64,
}

#[derive(Serialize)]
pub struct RouteStatus {
    pub name: String,
    /// `None` for the row of requests no route matched.
    pub backend: Option<String>,
    pub requests: Classes,
}

#[derive(Serialize)]
pub struct BackendStatus {
    pub name: String,
    pub requests: Classes,
    pub requests_per_second: f64,
    pub latency_ms: BackendLatency,
    pub servers: Vec<ServerStatus>,
}

#[derive(Serialize)]
pub struct BackendLatency {
    /// From the request head parsed to the response relayed.
    pub total: Percentiles,
    /// From asking for an upstream connection to its response head.
    pub upstream: Percentiles,
}

#[derive(Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

#[derive(Serialize)]
pub struct ServerStatus {
    /// Position in its backend's `servers`, as the admin URLs take it.
    pub index: usize,
    pub address: String,
    /// What the balancer acts on: `up`, `drain` or `maint`.
    pub state: &'static str,
    pub admin_state: &'static str,
    pub state_transitions: u64,
    pub requests: Classes,
    pub connects: u64,
    pub reuses: u64,
    pub connect_failures: u64,
    pub pooled_idle: u64,
}

#[derive(Serialize)]
pub struct WorkerStatus {
    pub id: usize,
    pub connections: Connections,
    pub upstream_waiting: u64,
    pub long_polls: u64,
    pub tunnels_open: u64,
    pub accept_queue: u64,
}

/// The state the balancer acts on: the admin state first, then the
/// health checks (a ready server that fails them is `down`).
pub fn effective_state(admin: AdminState, healthy: bool) -> &'static str {
    match admin {
        AdminState::Ready if healthy => "up",
        AdminState::Ready => "down",
        AdminState::Drain => "drain",
        AdminState::Maint => "maint",
    }
}

/// What the admin thread knows beside the workers' numbers.
pub struct Context<'a> {
    pub plan: &'a Plan,
    pub states: &'a ServerStates,
    pub workers: usize,
    pub uptime_seconds: u64,
    /// Requests per second per backend, then in total.
    pub rates: &'a [f64],
}

pub fn build(cx: &Context, merged: &Merged) -> Status {
    let sum = &merged.sum;
    let total_requests = classes_of_all(&sum.listeners);
    Status {
        version: crate::VERSION,
        build_commit: crate::BUILD_COMMIT,
        uptime_seconds: cx.uptime_seconds,
        pid: std::process::id(),
        workers: cx.workers,
        workers_reporting: merged.workers.len(),
        totals: Totals {
            requests: total_requests,
            requests_http1: classes(&sum.protocols, 0),
            requests_http2: classes(&sum.protocols, 1),
            requests_per_second: cx.rates.last().copied().unwrap_or(0.0),
            connections: connections(sum.connections, sum.in_flight, sum.accepted),
            upstream_waiting: sum.upstream_waiting,
            long_polls: sum.long_polls,
            tunnels_open: sum.tunnels_open,
            tunnels_total: sum.tunnels_total,
            bytes: FLOW_LABELS
                .iter()
                .zip(sum.bytes)
                .map(|((side, direction), n)| (format!("{side}_{direction}"), n))
                .collect(),
        },
        listeners: listeners(cx, merged),
        routes: routes(cx, merged),
        backends: backends(cx, merged),
        per_worker: merged.workers.iter().map(worker).collect(),
        certificates: crate::acme::snapshot(),
    }
}

fn connections(open: u64, in_flight: u64, accepted: u64) -> Connections {
    Connections {
        accepted,
        active: in_flight.min(open),
        idle: open.saturating_sub(in_flight),
    }
}

fn listeners(cx: &Context, merged: &Merged) -> Vec<ListenerStatus> {
    let sum = &merged.sum;
    cx.plan
        .listeners
        .iter()
        .enumerate()
        .map(|(i, listener)| ListenerStatus {
            name: listener.name.clone(),
            requests: classes(&sum.listeners, i),
            accept_queue: sum.listen_queues.get(i).copied().unwrap_or(0),
        })
        .collect()
}

fn routes(cx: &Context, merged: &Merged) -> Vec<RouteStatus> {
    let mut rows: Vec<RouteStatus> = cx
        .plan
        .routes
        .iter()
        .enumerate()
        .map(|(i, route)| RouteStatus {
            name: route.name.clone(),
            backend: route
                .backend()
                .and_then(|b| cx.plan.backends.get(b))
                .map(|b| b.name.clone()),
            requests: classes(&merged.sum.routes, i),
        })
        .collect();
    rows.push(RouteStatus {
        name: "(no route)".into(),
        backend: None,
        requests: classes(&merged.sum.routes, cx.plan.routes.len()),
    });
    rows
}

fn backends(cx: &Context, merged: &Merged) -> Vec<BackendStatus> {
    let sum = &merged.sum;
    cx.plan
        .backends
        .iter()
        .enumerate()
        .map(|(i, backend)| BackendStatus {
            name: backend.name.clone(),
            requests: classes(&sum.backends, i),
            requests_per_second: cx.rates.get(i).copied().unwrap_or(0.0),
            latency_ms: BackendLatency {
                total: percentiles(sum.total_latency.get(i)),
                upstream: percentiles(sum.upstream_latency.get(i)),
            },
            servers: backend
                .servers
                .iter()
                .enumerate()
                .map(|(index, server)| server_status(cx, merged, index, server))
                .collect(),
        })
        .collect()
}

fn server_status(
    cx: &Context,
    merged: &Merged,
    index: usize,
    server: &crate::config::Server,
) -> ServerStatus {
    let sum = &merged.sum;
    let id = server.id;
    let at = |counts: &[u64]| counts.get(id).copied().unwrap_or(0);
    let admin = cx.states.get(id);
    ServerStatus {
        index,
        address: server.address.to_string(),
        state: effective_state(admin, cx.plan.health.is_up(server.health)),
        admin_state: admin.name(),
        // Admin changes (drain, maint, ready) and health changes (up, down).
        state_transitions: cx.states.transitions(id) + cx.plan.health.changes(server.health),
        requests: classes(&sum.servers, id),
        connects: at(&sum.connects),
        reuses: at(&sum.reuses),
        connect_failures: at(&sum.connect_failures),
        pooled_idle: at(&sum.pooled_idle),
    }
}

fn worker(snapshot: &crate::metrics::WorkerSnapshot) -> WorkerStatus {
    WorkerStatus {
        id: snapshot.worker,
        connections: connections(snapshot.connections, snapshot.in_flight, snapshot.accepted),
        upstream_waiting: snapshot.upstream_waiting,
        long_polls: snapshot.long_polls,
        tunnels_open: snapshot.tunnels_open,
        accept_queue: snapshot.listen_queues.iter().sum(),
    }
}

/// Row `row` of a class table, by class name, with a `total`.
pub fn classes(table: &[u64], row: usize) -> Classes {
    let mut out: Classes = CLASS_NAMES
        .iter()
        .enumerate()
        .map(|(class, name)| {
            (
                *name,
                table.get(row * CLASSES + class).copied().unwrap_or(0),
            )
        })
        .collect();
    out.insert("total", out.values().sum());
    out
}

/// All requests of row `row` of a class table.
pub fn row_total(table: &[u64], row: usize) -> u64 {
    table.iter().skip(row * CLASSES).take(CLASSES).sum()
}

/// Every row of a class table added up.
fn classes_of_all(table: &[u64]) -> Classes {
    let rows = table.len() / CLASSES;
    let mut out = classes(&[], 0);
    for row in 0..rows {
        for (name, n) in classes(table, row) {
            *out.entry(name).or_default() += n;
        }
    }
    out
}

fn percentiles(latency: Option<&LatencyCopy>) -> Percentiles {
    let empty = LatencyCopy::default();
    let latency = latency.unwrap_or(&empty);
    let ms = |quantile: f64| latency.quantile_us(quantile) as f64 / 1000.0;
    Percentiles {
        count: latency.count(),
        p50: ms(0.5),
        p90: ms(0.9),
        p99: ms(0.99),
        p999: ms(0.999),
        max: ms(1.0),
    }
}
