//! The admin endpoint's URLs:
//! - `GET /metrics`: Prometheus text;
//! - `GET /status`: JSON;
//! - `GET /`: the HTML status page;
//! - `POST /servers/{backend}/{server}/{drain|enable|maint}`: sets a
//!   server's admin state; `{server}` is its position in the backend's
//!   `servers` or its address. Answers JSON, or a redirect to `/` for a
//!   browser's form;
//! - `POST /reload`: reloads the configuration file; answers once the
//!   workers switched (200) or why the new file was refused (422).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::http::{decode_segment, Request, Response};
use super::rates::Rates;
use super::{page, prometheus, status, View};
use crate::config::Plan;
use crate::metrics::Merged;
use crate::upstream::server_state::{AdminState, ServerStates};
use crate::worker::inbox::Workers;

/// How long a scrape waits for the workers (they look every 50 ms).
const COLLECT_WAIT: Duration = Duration::from_secs(2);

/// How long `POST /reload` waits for the outcome.
const RELOAD_WAIT: Duration = Duration::from_secs(15);

pub struct Admin {
    /// Copies of `view`'s, taken at the start of each request.
    pub plan: Arc<Plan>,
    pub states: Arc<ServerStates>,
    pub view: Arc<Mutex<View>>,
    pub workers: Workers,
    pub started: Instant,
    pub rates: Rates,
}

impl Admin {
    pub fn handle(&mut self, req: &Request) -> Response {
        if let Ok(view) = self.view.lock() {
            self.plan = view.plan.clone();
            self.states = view.states.clone();
        }
        let segments: Vec<&str> = req.path.trim_matches('/').split('/').collect();
        match (req.method.as_str(), segments.as_slice()) {
            ("GET", ["metrics"]) => self.metrics(),
            ("GET", ["status"]) => self.status_json(),
            ("GET", [""]) => self.page(),
            ("POST", ["reload"]) => reload(),
            ("POST", ["servers", backend, server, action]) => {
                self.set_state(req, backend, server, action)
            }
            (_, ["metrics" | "status" | "" | "reload"]) | (_, ["servers", _, _, _]) => {
                Response::text(405, "method not allowed")
            }
            _ => Response::text(404, "not found: try /, /status or /metrics"),
        }
    }

    fn merged(&self) -> Merged {
        Merged::new(self.workers.collect(COLLECT_WAIT))
    }

    fn metrics(&self) -> Response {
        let text = prometheus::render(&self.plan, &self.states, &self.merged());
        Response::new(200, prometheus::CONTENT_TYPE, text)
    }

    fn status(&mut self) -> status::Status {
        let merged = self.merged();
        // Per backend, then every request (all listeners).
        let all: u64 = merged.sum.listeners.iter().sum();
        let totals: Vec<u64> = (0..self.plan.backends.len())
            .map(|i| status::row_total(&merged.sum.backends, i))
            .chain(std::iter::once(all))
            .collect();
        let rates = self.rates.update(Instant::now(), &totals).to_vec();
        let cx = status::Context {
            plan: &self.plan,
            states: &self.states,
            workers: self.workers.count(),
            uptime_seconds: self.started.elapsed().as_secs(),
            rates: &rates,
        };
        status::build(&cx, &merged)
    }

    fn status_json(&mut self) -> Response {
        match serde_json::to_string_pretty(&self.status()) {
            Ok(json) => Response::new(200, "application/json", json),
            Err(err) => Response::text(500, &format!("cannot serialize the status: {err}")),
        }
    }

    fn page(&mut self) -> Response {
        Response::new(
            200,
            "text/html; charset=utf-8",
            page::render(&self.status()),
        )
    }

    fn set_state(&self, req: &Request, backend: &str, server: &str, action: &str) -> Response {
        let Some(state) = AdminState::parse(action) else {
            return Response::text(404, "the action is drain, enable or maint");
        };
        let (Some(backend), Some(server)) = (decode_segment(backend), decode_segment(server))
        else {
            return Response::text(400, "malformed percent-encoding");
        };
        let Some((id, address)) = find_server(&self.plan, &backend, &server) else {
            return Response::text(404, &format!("no server {server:?} in backend {backend:?}"));
        };
        let previous = self.states.set(id, state).unwrap_or(AdminState::Ready);
        crate::log::info(format_args!(
            "admin: server {address} of backend {backend}: {} -> {}",
            previous.name(),
            state.name()
        ));
        let from_form = req
            .content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        if from_form {
            let mut back = Response::text(303, "see /");
            back.location = Some("/".into());
            return back;
        }
        let body = serde_json::json!({
            "backend": backend,
            "server": address,
            "previous": previous.name(),
            "state": state.name(),
        });
        Response::new(200, "application/json", body.to_string())
    }
}

/// Has the main thread reload the file and waits for the outcome.
fn reload() -> Response {
    let outcome = crate::control::reload().recv_timeout(RELOAD_WAIT);
    let (status, body) = match outcome {
        Ok(Ok(summary)) => (
            200,
            serde_json::json!({ "reloaded": true, "summary": summary }),
        ),
        Ok(Err(reason)) => (
            422,
            serde_json::json!({ "reloaded": false, "error": reason }),
        ),
        Err(_) => (
            504,
            serde_json::json!({ "reloaded": false, "error": "no outcome within 15 s" }),
        ),
    };
    Response::new(status, "application/json", body.to_string())
}

/// The server's id and address: `key` is its position in the backend or
/// its address.
fn find_server(plan: &Plan, backend: &str, key: &str) -> Option<(usize, String)> {
    let backend = plan.backends.iter().find(|b| b.name == backend)?;
    let server = match key.parse::<usize>() {
        Ok(index) => backend.servers.get(index)?,
        Err(_) => backend
            .servers
            .iter()
            .find(|s| s.address.to_string() == key)?,
    };
    Some((server.id, server.address.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_found_by_position_or_address() {
        let plan = crate::config::from_str(
            "[[listener]]\nbind = \"127.0.0.1:0\"\n[[route]]\nbackend = \"b\"\n[backend.a]\nservers = [\"127.0.0.1:9\"]\n[backend.b]\nservers = [\"127.0.0.1:10\", \"127.0.0.1:11\"]\n",
            "t",
        )
        .expect("plan");
        assert_eq!(find_server(&plan, "b", "1").map(|s| s.0), Some(2));
        assert_eq!(
            find_server(&plan, "b", "127.0.0.1:10").map(|s| s.0),
            Some(1)
        );
        assert_eq!(find_server(&plan, "b", "2"), None);
        assert_eq!(find_server(&plan, "c", "0"), None);
        assert_eq!(find_server(&plan, "a", "127.0.0.1:10"), None);
    }
}
