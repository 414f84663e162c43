//! Counters across reloads. A reload gives each worker a new generation
//! with its own `WorkerStats`, numbered by the new plan, while requests in
//! flight finish in the old one. Prometheus counters must never go down, so
//! at the switch the new generation takes over the old one's counts, row by
//! row matched by name (listener, route, backend; a server by its backend
//! and address), and when the old generation is dropped (its last
//! connection gone) it hands what it counted since to the newest generation
//! then (`WorkerCtx`'s drop, which knows both plans). No generation links
//! to a later one: a held connection must not keep every generation since
//! alive (each `WorkerStats` holds histograms of tens of KiB).
//! Rows the new plan no longer has leave with their series.

use super::latency::Latency;
use super::table::{ClassTable, Counts};
use super::worker_stats::WorkerStats;
use crate::config::Plan;

/// For each row of the old plan, the row of the new plan it continues as.
pub struct Rows {
    listeners: Vec<Option<usize>>,
    /// The last row is "no route matched" in both.
    routes: Vec<Option<usize>>,
    backends: Vec<Option<usize>>,
    servers: Vec<Option<usize>>,
}

impl Rows {
    pub fn between(old: &Plan, new: &Plan) -> Rows {
        let by_name = |old: Vec<&str>, new: Vec<&str>| -> Vec<Option<usize>> {
            old.iter()
                .map(|name| new.iter().position(|n| n == name))
                .collect()
        };
        let mut routes = by_name(
            old.routes.iter().map(|r| r.name.as_str()).collect(),
            new.routes.iter().map(|r| r.name.as_str()).collect(),
        );
        routes.push(Some(new.routes.len()));
        let mut servers = vec![None; old.server_count];
        for backend in &old.backends {
            let Some(now) = new.backends.iter().find(|b| b.name == backend.name) else {
                continue;
            };
            for server in &backend.servers {
                let same = now.servers.iter().find(|s| s.address == server.address);
                if let (Some(slot), Some(same)) = (servers.get_mut(server.id), same) {
                    *slot = Some(same.id);
                }
            }
        }
        Rows {
            listeners: by_name(
                old.listeners.iter().map(|l| l.name.as_str()).collect(),
                new.listeners.iter().map(|l| l.name.as_str()).collect(),
            ),
            routes,
            backends: by_name(
                old.backends.iter().map(|b| b.name.as_str()).collect(),
                new.backends.iter().map(|b| b.name.as_str()).collect(),
            ),
            servers,
        }
    }
}

impl WorkerStats {
    /// Moves the counters (not the gauges) of `old` into `self`: at the
    /// reload's switch, and again when the old generation is dropped.
    pub fn take_counts(&self, old: &WorkerStats, rows: &Rows) {
        old.listeners.move_into(&self.listeners, &rows.listeners);
        old.protocols
            .move_into(&self.protocols, &[Some(0), Some(1)]);
        old.routes.move_into(&self.routes, &rows.routes);
        old.backends.move_into(&self.backends, &rows.backends);
        old.servers.move_into(&self.servers, &rows.servers);
        old.connects.move_into(&self.connects, &rows.servers);
        old.reuses.move_into(&self.reuses, &rows.servers);
        old.connect_failures
            .move_into(&self.connect_failures, &rows.servers);
        self.accepted.set(self.accepted.get() + old.accepted.take());
        self.http2_connections
            .set(self.http2_connections.get() + old.http2_connections.take());
        self.tunnels_total
            .set(self.tunnels_total.get() + old.tunnels_total.take());
        for (backend, next) in rows.backends.iter().enumerate() {
            let Some(next) = *next else { continue };
            let pairs = [
                (&old.total_latency, &self.total_latency),
                (&old.upstream_latency, &self.upstream_latency),
            ];
            for (from, to) in pairs {
                if let (Some(from), Some(to)) = (from.get(backend), to.get(next)) {
                    from.move_into(to);
                }
            }
        }
    }
}

impl ClassTable {
    fn move_into(&self, to: &ClassTable, rows: &[Option<usize>]) {
        for (row, next) in rows.iter().enumerate() {
            if let Some(next) = *next {
                for class in 0..super::class::CLASSES {
                    to.add_n(next, class, self.take(row, class));
                }
            }
        }
    }
}

impl Counts {
    fn move_into(&self, to: &Counts, rows: &[Option<usize>]) {
        for (index, next) in rows.iter().enumerate() {
            if let Some(next) = *next {
                to.add_n(next, self.take(index));
            }
        }
    }
}

impl Latency {
    fn move_into(&self, to: &Latency) {
        to.absorb(&self.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(routes: &[&str], servers: &[&str]) -> Plan {
        let mut text = String::from("[[listener]]\nbind = \"127.0.0.1:0\"\n");
        for name in routes {
            text += &format!(
                "[[route]]\nname = \"{name}\"\npath_prefix = \"/{name}\"\nbackend = \"a\"\n"
            );
        }
        let servers: Vec<String> = servers.iter().map(|s| format!("\"{s}\"")).collect();
        text += &format!("[backend.a]\nservers = [{}]\n", servers.join(", "));
        crate::config::from_str(&text, "t").expect("plan")
    }

    #[test]
    fn counts_follow_their_names_into_the_next_generation_and_late_ones_too() {
        let old_plan = plan(&["x", "y"], &["127.0.0.1:9", "127.0.0.1:10"]);
        let new_plan = plan(&["y", "z"], &["127.0.0.1:10"]);
        let old = WorkerStats::new(&old_plan);
        old.routes.add(1, 200);
        old.servers.add(1, 200);
        old.servers.add(0, 502);
        let next = WorkerStats::new(&new_plan);
        let rows = Rows::between(&old_plan, &new_plan);
        next.take_counts(&old, &rows);
        let row =
            |table: &ClassTable, row: usize| table.copy()[row * crate::metrics::class::CLASSES + 2];
        assert_eq!(row(&next.routes, 0), 1, "route y is row 0 now");
        assert_eq!(row(&next.servers, 0), 1, "127.0.0.1:10 is server 0 now");
        // A request in flight across the reload ends in the old generation.
        old.routes.add(1, 204);
        // What `WorkerCtx`'s drop does when the old generation ends.
        next.take_counts(&old, &rows);
        assert_eq!(row(&next.routes, 0), 2, "handed over when the old one ends");
        assert_eq!(
            next.servers.copy().iter().sum::<u64>(),
            1,
            "the removed server left"
        );
    }
}
