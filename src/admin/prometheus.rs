//! `/metrics`: the Prometheus text format (version 0.0.4). Counters are
//! summed over the workers; gauges about connections are also given per
//! worker; histograms are the workers' hdrhistograms merged, cut at fixed
//! bucket bounds.

use std::fmt::Write;

use crate::config::Plan;
use crate::conn::wire::FLOW_LABELS;
use crate::metrics::class::{CLASSES, CLASS_NAMES};
use crate::metrics::latency::LatencyCopy;
use crate::metrics::{Merged, WorkerSnapshot};
use crate::upstream::server_state::{AdminState, ServerStates};

/// Histogram bucket bounds, in seconds (and in µs below).
const BUCKETS_SECONDS: [&str; 16] = [
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
    "2.5", "5", "10", "30", "60",
];
const BUCKETS_US: [u64; 16] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000,
];

/// Reads one gauge out of a worker's snapshot.
type PerWorker = fn(&WorkerSnapshot) -> u64;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn render(plan: &Plan, states: &ServerStates, merged: &Merged) -> String {
    let mut out = String::with_capacity(16 * 1024);
    requests(&mut out, plan, merged);
    connections(&mut out, merged);
    edge(&mut out);
    memory(&mut out, merged);
    compressors(&mut out);
    upstreams(&mut out, plan, states, merged);
    latencies(&mut out, plan, merged);
    super::limits::render(&mut out, plan);
    discovery(&mut out, plan);
    certificates(&mut out);
    out
}

/// ACME certificates: seconds to expiry (once one is issued) and failed
/// orders, labelled by their domains.
fn certificates(out: &mut String) {
    let certificates = crate::acme::snapshot();
    header(
        out,
        "tern_certificate_expiry_seconds",
        "gauge",
        "Seconds until an ACME certificate expires (absent while a temporary one is served).",
    );
    for c in &certificates {
        if let Some(seconds) = c.expires_in {
            let _ = writeln!(
                out,
                "tern_certificate_expiry_seconds{{domains=\"{}\"}} {seconds}",
                escape(&c.domains)
            );
        }
    }
    header(
        out,
        "tern_acme_failed_orders_total",
        "counter",
        "ACME orders that failed (CA unreachable, challenge failed, refused); retried with backoff.",
    );
    for c in &certificates {
        let _ = writeln!(
            out,
            "tern_acme_failed_orders_total{{domains=\"{}\"}} {}",
            escape(&c.domains),
            c.failed_orders
        );
    }
}

/// DNS discovery: addresses in force per backend, failed lookups per name.
fn discovery(out: &mut String, plan: &Plan) {
    header(
        out,
        "tern_backend_resolved_addresses",
        "gauge",
        "Servers of a backend found through DNS (names and SRV records in its servers list).",
    );
    for backend in &plan.backends {
        let found = backend.servers.iter().filter(|s| s.discovered).count();
        let _ = writeln!(
            out,
            "tern_backend_resolved_addresses{{{}}} {found}",
            backend_label(&backend.name)
        );
    }
    header(
        out,
        "tern_dns_lookup_failures_total",
        "counter",
        "DNS lookups of a server name that failed (the name keeps its last good addresses).",
    );
    for (name, failures) in crate::discovery::failures() {
        let _ = writeln!(
            out,
            "tern_dns_lookup_failures_total{{name=\"{}\"}} {failures}",
            escape(&name)
        );
    }
}

fn requests(out: &mut String, plan: &Plan, merged: &Merged) {
    let sum = &merged.sum;
    let listeners: Vec<String> = plan
        .listeners
        .iter()
        .map(|l| format!("listener=\"{}\"", escape(&l.name)))
        .collect();
    class_family(
        out,
        "tern_requests_total",
        "Requests by listener and status class (none: no response).",
        &listeners,
        &sum.listeners,
    );
    class_family(
        out,
        "tern_protocol_requests_total",
        "Requests by the client's protocol and status class.",
        &["protocol=\"HTTP/1.1\"".into(), "protocol=\"HTTP/2\"".into()],
        &sum.protocols,
    );
    let mut routes: Vec<String> = plan
        .routes
        .iter()
        .map(|r| format!("route=\"{}\"", escape(&r.name)))
        .collect();
    routes.push("route=\"\"".into());
    class_family(
        out,
        "tern_route_requests_total",
        "Requests by route (\"\": none matched) and status class.",
        &routes,
        &sum.routes,
    );
    let backends: Vec<String> = plan
        .backends
        .iter()
        .map(|b| backend_label(&b.name))
        .collect();
    class_family(
        out,
        "tern_backend_requests_total",
        "Requests by backend and status class.",
        &backends,
        &sum.backends,
    );
    let servers = server_labels(plan);
    class_family(
        out,
        "tern_server_requests_total",
        "Requests by server and status class.",
        &servers,
        &sum.servers,
    );
    bytes_on_the_wire(out, sum.bytes);
}

/// Bytes received and sent, on the client side and the upstream side.
fn bytes_on_the_wire(out: &mut String, bytes: [u64; 4]) {
    header(
        out,
        "tern_bytes_total",
        "counter",
        "Bytes on the wire, by side and direction.",
    );
    for ((side, direction), n) in FLOW_LABELS.iter().zip(bytes) {
        let _ = writeln!(
            out,
            "tern_bytes_total{{side=\"{side}\",direction=\"{direction}\"}} {n}"
        );
    }
}

/// Process-wide numbers (`edge_counts`, and the logs' drops).
fn edge(out: &mut String) {
    use crate::edge_counts as counts;
    let surges_help = format!(
        "Times a listen queue held more than {} connections at a tick and a worker added accepts to empty it.",
        counts::ACCEPT_SURGE_AT
    );
    let numbers: [(&str, &str, &str, u64); 9] = [
        (
            "tern_panics_total",
            "counter",
            "Panics contained at a connection: the connection closed, its worker went on.",
            counts::panics(),
        ),
        (
            "tern_generations",
            "gauge",
            "Configuration generations alive over all workers: the current one per worker, and older ones long-lived connections still hold.",
            counts::generations(),
        ),
        (
            "tern_connections_max",
            "gauge",
            "Client connections the process holds at once ([server] max_connections, divided among workers); beyond it new ones wait in the listen queue.",
            counts::connection_cap(),
        ),
        (
            "tern_accept_pauses_total",
            "counter",
            "Times a worker reached its share of max_connections and stopped accepting until a connection ended.",
            counts::accept_pauses(),
        ),
        (
            "tern_accept_surges_total",
            "counter",
            &surges_help,
            counts::accept_surges(),
        ),
        (
            "tern_descriptor_exhaustion_total",
            "counter",
            "Episodes of running out of file descriptors (EMFILE/ENFILE on accept or connect).",
            counts::exhaustions(),
        ),
        (
            "tern_log_dropped_lines_total",
            "counter",
            "Access and error log lines not written: a file took none of the 16 MiB a worker had queued for it, or a write failed (a full disk).",
            crate::log::writer::dropped_lines(),
        ),
        (
            "tern_static_disk_reads_total",
            "counter",
            "Static file reads that found the bytes not in the page cache (or on a filesystem that can't tell, such as FUSE) and waited for the disk: through io_uring (with the epoll driver, on a file thread), the worker serving its other connections meanwhile.",
            crate::files::disk_reads(),
        ),
        (
            "tern_static_slow_opens_total",
            "counter",
            "Static files whose lookup the kernel's caches could not answer (a name not asked for before, or fallen out of the cache) on a network or FUSE filesystem, or on a local disk just found slow: opened on a file thread while the worker served its other connections (directory listings there too).",
            crate::files::slow_opens(),
        ),
    ];
    for (name, kind, help, value) in numbers {
        single(out, (name, kind), help, value);
    }
}

/// The gzip states the workers make and keep (`compress::pool`): one made
/// per response would mean the pool is not doing its job.
fn compressors(out: &mut String) {
    let (made, idle) = crate::compress::compressor_counts();
    single(
        out,
        ("tern_compressors_made_total", "counter"),
        "Gzip compressors made; a worker keeps finished ones for the next response, so steady compressing traffic makes none.",
        made,
    );
    single(
        out,
        ("tern_compressors_idle", "gauge"),
        "Gzip compressors the workers keep for reuse, about 420 KiB each (those a worker stopped needing are freed).",
        idle,
    );
}

/// The buffer pools per worker and the allocator's totals: what tells a
/// pool filling to its cap or the allocator keeping freed memory from a leak.
fn memory(out: &mut String, merged: &Merged) {
    header(
        out,
        "tern_buffer_pool_buffers",
        "gauge",
        "Free I/O buffers a worker keeps for reuse, by buffer size in bytes.",
    );
    let sizes = [crate::buffer::BUF_SIZE, crate::buffer::BIG_BUF_SIZE];
    for w in &merged.workers {
        for (size, n) in sizes.iter().zip(w.pooled_buffers) {
            let _ = writeln!(
                out,
                "tern_buffer_pool_buffers{{worker=\"{}\",size=\"{size}\"}} {n}",
                w.worker
            );
        }
    }
    let (trims, micros) = crate::allocator::trims();
    single(
        out,
        ("tern_allocator_trims_total", "counter"),
        "Times a worker asked the allocator to give free memory back to the system after a burst.",
        trims,
    );
    header(
        out,
        "tern_allocator_trim_seconds_total",
        "counter",
        "Time workers spent in those trims (a worker serves nothing meanwhile).",
    );
    let _ = writeln!(
        out,
        "tern_allocator_trim_seconds_total {}.{:06}",
        micros / 1_000_000,
        micros % 1_000_000
    );
    let Some(heap) = crate::allocator::heap() else {
        return;
    };
    header(
        out,
        "tern_allocator_bytes",
        "gauge",
        "The C allocator's bytes: in_use (allocated), free (freed but kept in its arenas).",
    );
    let _ = writeln!(
        out,
        "tern_allocator_bytes{{state=\"in_use\"}} {}",
        heap.in_use
    );
    let _ = writeln!(out, "tern_allocator_bytes{{state=\"free\"}} {}", heap.free);
}

fn connections(out: &mut String, merged: &Merged) {
    per_worker(
        out,
        merged,
        ("tern_connections_accepted_total", "counter"),
        "Client connections accepted, per worker.",
        |w| w.accepted,
    );
    per_worker(
        out,
        merged,
        ("tern_http2_connections_total", "counter"),
        "Client connections that completed the HTTP/2 handshake, per worker.",
        |w| w.http2_connections,
    );
    connection_states(out, merged);
    let gauges: [(&str, &str, PerWorker); 4] = [
        (
            "tern_upstream_waiting",
            "Requests waiting on an upstream for a response head.",
            |w| w.upstream_waiting,
        ),
        (
            "tern_long_polls",
            "Requests waiting on an upstream for more than about a second.",
            |w| w.long_polls,
        ),
        (
            "tern_tunnels_open",
            "Upgraded connections (WebSocket) open.",
            |w| w.tunnels_open,
        ),
        (
            "tern_accept_queue",
            "Connections waiting in the worker's accept queues.",
            |w| w.listen_queues.iter().sum(),
        ),
    ];
    for (name, help, value) in gauges {
        per_worker(out, merged, (name, "gauge"), help, value);
    }
    single(
        out,
        ("tern_tunnels_total", "counter"),
        "Upgraded connections opened.",
        merged.sum.tunnels_total,
    );
    single(
        out,
        ("tern_workers_reporting", "gauge"),
        "Workers whose numbers are in this scrape.",
        merged.workers.len() as u64,
    );
}

/// Open client connections per worker, split into those with a request in
/// flight and the rest.
fn connection_states(out: &mut String, merged: &Merged) {
    header(
        out,
        "tern_connections",
        "gauge",
        "Open client connections per worker: active (a request in flight) or idle.",
    );
    for w in &merged.workers {
        let active = w.in_flight.min(w.connections);
        let idle = w.connections - active;
        let _ = writeln!(
            out,
            "tern_connections{{worker=\"{}\",state=\"active\"}} {active}",
            w.worker
        );
        let _ = writeln!(
            out,
            "tern_connections{{worker=\"{}\",state=\"idle\"}} {idle}",
            w.worker
        );
    }
}

fn upstreams(out: &mut String, plan: &Plan, states: &ServerStates, merged: &Merged) {
    let servers = server_labels(plan);
    upstream_counters(out, &servers, &merged.sum);
    admin_states(out, &servers, states);
    header(
        out,
        "tern_server_up",
        "gauge",
        "1 when the balancer may choose the server: not drained, and passing its health checks.",
    );
    for (id, labels) in servers.iter().enumerate() {
        let healthy = health_slot(plan, id).is_none_or(|slot| plan.health.is_up(slot));
        let up = states.accepts(id) && healthy;
        let _ = writeln!(out, "tern_server_up{{{labels}}} {}", u8::from(up));
    }
    header(
        out,
        "tern_server_state_transitions_total",
        "counter",
        "Changes of a server's state: admin (ready, drain, maint) and health (up, down).",
    );
    for (id, labels) in servers.iter().enumerate() {
        let health_changes = health_slot(plan, id).map_or(0, |slot| plan.health.changes(slot));
        let _ = writeln!(
            out,
            "tern_server_state_transitions_total{{{labels}}} {}",
            states.transitions(id) + health_changes
        );
    }
}

/// The per-server counters the workers keep, summed over workers.
fn upstream_counters(out: &mut String, servers: &[String], sum: &WorkerSnapshot) {
    let per_server: [(&str, &str, &str, &[u64]); 4] = [
        (
            "tern_upstream_connects_total",
            "counter",
            "New upstream connections opened.",
            &sum.connects,
        ),
        (
            "tern_upstream_reuses_total",
            "counter",
            "Requests sent on a pooled upstream connection.",
            &sum.reuses,
        ),
        (
            "tern_upstream_connect_failures_total",
            "counter",
            "Upstream connects refused, unreachable or timed out.",
            &sum.connect_failures,
        ),
        (
            "tern_upstream_pool_idle",
            "gauge",
            "Idle pooled upstream connections.",
            &sum.pooled_idle,
        ),
    ];
    for (name, kind, help, values) in per_server {
        header(out, name, kind, help);
        for (id, labels) in servers.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}{{{labels}}} {}",
                values.get(id).copied().unwrap_or(0)
            );
        }
    }
}

/// One line per server and admin state, 1 for the state it is in.
fn admin_states(out: &mut String, servers: &[String], states: &ServerStates) {
    header(
        out,
        "tern_server_state",
        "gauge",
        "1 for the admin state each server is in (ready, drain, maint).",
    );
    for (id, labels) in servers.iter().enumerate() {
        let current = states.get(id);
        for state in [AdminState::Ready, AdminState::Drain, AdminState::Maint] {
            let on = u8::from(state == current);
            let _ = writeln!(
                out,
                "tern_server_state{{{labels},state=\"{}\"}} {on}",
                state.name()
            );
        }
    }
}

/// The health-check slot of server `id` (none for a server not in a
/// backend, which counts as healthy).
fn health_slot(plan: &Plan, id: usize) -> Option<usize> {
    let mut servers = plan.backends.iter().flat_map(|b| &b.servers);
    servers.find(|s| s.id == id).map(|s| s.health)
}

fn latencies(out: &mut String, plan: &Plan, merged: &Merged) {
    let families = [
        (
            "tern_request_duration_seconds",
            "From the request head parsed to the exchange's end, per backend.",
            &merged.sum.total_latency,
        ),
        (
            "tern_upstream_duration_seconds",
            "From asking for an upstream connection to its response head, per backend.",
            &merged.sum.upstream_latency,
        ),
    ];
    for (name, help, per_backend) in families {
        header(out, name, "histogram", help);
        for (i, backend) in plan.backends.iter().enumerate() {
            let empty = LatencyCopy::default();
            let latency = per_backend.get(i).unwrap_or(&empty);
            histogram(out, name, &backend_label(&backend.name), latency);
        }
    }
}

fn histogram(out: &mut String, name: &str, labels: &str, latency: &LatencyCopy) {
    for (le, micros) in BUCKETS_SECONDS.iter().zip(BUCKETS_US) {
        let n = latency.count_at_most(micros);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {n}");
    }
    let count = latency.count();
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
    let _ = writeln!(
        out,
        "{name}_sum{{{labels}}} {}",
        latency.sum_us as f64 / 1e6
    );
    let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
}

/// A counter family with one series per row and status class.
fn class_family(out: &mut String, name: &str, help: &str, rows: &[String], table: &[u64]) {
    header(out, name, "counter", help);
    for (row, labels) in rows.iter().enumerate() {
        for (class, class_name) in CLASS_NAMES.iter().enumerate() {
            let n = table.get(row * CLASSES + class).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}{{{labels},class=\"{class_name}\"}} {n}");
        }
    }
}

/// One family with a line per worker.
fn per_worker(
    out: &mut String,
    merged: &Merged,
    (name, kind): (&str, &str),
    help: &str,
    value: PerWorker,
) {
    header(out, name, kind, help);
    for w in &merged.workers {
        let _ = writeln!(out, "{name}{{worker=\"{}\"}} {}", w.worker, value(w));
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A metric with one sample and no labels: its header and its value.
fn single(out: &mut String, (name, kind): (&str, &str), help: &str, value: u64) {
    header(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

fn backend_label(name: &str) -> String {
    format!("backend=\"{}\"", escape(name))
}

/// Labels of every server, indexed by `Server::id`.
fn server_labels(plan: &Plan) -> Vec<String> {
    let mut labels = vec![String::new(); plan.server_count];
    for backend in &plan.backends {
        for server in &backend.servers {
            if let Some(slot) = labels.get_mut(server.id) {
                *slot = format!(
                    "{},server=\"{}\"",
                    backend_label(&backend.name),
                    server.address
                );
            }
        }
    }
    labels
}

/// Label values escape backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        crate::config::from_str(
            "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n[[route]]\nbackend = \"a\"\n[backend.a]\nservers = [\"127.0.0.1:9\"]\n",
            "t",
        )
        .expect("plan")
    }

    #[test]
    fn every_series_has_a_type_and_counts_render() {
        let plan = plan();
        let mut listeners = vec![0; CLASSES];
        listeners[2] = 3;
        let merged = Merged::new(vec![WorkerSnapshot {
            listeners,
            ..WorkerSnapshot::default()
        }]);
        let text = render(&plan, &ServerStates::new(1), &merged);
        assert!(
            text.contains("tern_requests_total{listener=\"web\",class=\"2xx\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("tern_server_up{backend=\"a\",server=\"127.0.0.1:9\"} 1\n"));
        assert!(
            text.contains("tern_request_duration_seconds_bucket{backend=\"a\",le=\"+Inf\"} 0\n")
        );
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            let family = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(
                text.contains(&format!("# TYPE {family} ")),
                "no TYPE for {name}"
            );
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
