//! Routes: conditions on a request and what to do with it. Routes are tried
//! in order and the first whose conditions all hold wins.

pub mod answer;
pub mod cidr;
pub mod condition;
pub mod edits;
pub mod host;
pub mod path;
pub mod reverse;

pub use answer::{Redirect, Respond};
pub use condition::{Condition, RouteInput};
pub use edits::HeaderEdits;
pub use path::{PathPrefix, PathRewrite};
pub use reverse::Reverse;

#[derive(Debug)]
pub struct Route {
    pub name: String,
    /// Every one must hold.
    pub all: Vec<Condition>,
    /// Every one must fail (the `not` table, HAProxy's `!acl`).
    pub none: Vec<Condition>,
    pub action: Action,
    /// `rate_limit`: shared by every worker; `None` keeps the route off
    /// shared state.
    pub rate_limit: Option<std::sync::Arc<crate::limits::RateLimit>>,
    /// `max_body_bytes`: this route's own bound on a request body, in
    /// place of `[server.limits]`'s.
    pub max_body_bytes: Option<u64>,
}

#[derive(Debug)]
pub enum Action {
    Proxy(Box<Proxy>),
    Redirect(Redirect),
    Respond(Respond),
    /// Serve files from this site.
    Static(std::sync::Arc<crate::files::StaticSite>),
}

/// Proxying to a backend, with what changes on the way.
#[derive(Debug)]
pub struct Proxy {
    /// Index into `Plan::backends`.
    pub backend: usize,
    pub rewrite: Option<PathRewrite>,
    /// Replaces the Host sent upstream.
    pub upstream_host: Option<String>,
    pub request_edits: Option<HeaderEdits>,
    pub response_edits: Option<HeaderEdits>,
    pub reverse: Option<Reverse>,
    /// Upgrade protocols forwarded (lower case; default `websocket`). Any
    /// other `Upgrade` is dropped and the request goes on as plain
    /// HTTP/1.1, so no protocol can tunnel past the routes unasked.
    pub upgrades: Box<[Box<str>]>,
    /// When a client that leaves aborts its waiting request.
    pub abort_on: AbortOn,
    /// Responses are compressed on the way (route `compress`).
    pub compress: Option<std::sync::Arc<crate::compress::Policy>>,
}

/// When a client's leaving aborts its request (`abort_on_close`); defined
/// with the `Downstream` contract that carries it.
pub use crate::conn::downstream::AbortOn;

impl Proxy {
    /// Only a proxy with nothing to change takes the plain path.
    pub fn edits_request(&self) -> bool {
        self.rewrite.is_some() || self.upstream_host.is_some() || self.request_edits.is_some()
    }

    pub fn edits_response(&self) -> bool {
        self.response_edits.is_some() || self.reverse.is_some()
    }

    /// Whether every protocol of an `Upgrade` field value is one this
    /// route forwards (tokens compared without regard to case).
    pub fn allows_upgrade(&self, value: &[u8]) -> bool {
        let mut offered = value
            .split(|&b| b == b',')
            .map(|p| p.trim_ascii())
            .filter(|p| !p.is_empty())
            .peekable();
        offered.peek().is_some()
            && offered.all(|p| {
                self.upgrades
                    .iter()
                    .any(|u| p.eq_ignore_ascii_case(u.as_bytes()))
            })
    }
}

impl Route {
    pub fn matches(&self, input: &RouteInput, backend_live: &dyn Fn(usize) -> bool) -> bool {
        self.all.iter().all(|c| c.holds(input, backend_live))
            && !self.none.iter().any(|c| c.holds(input, backend_live))
    }

    /// The path with this route's path prefix removed (all of it without
    /// one): what a static route resolves under its root (Alias semantics).
    pub fn strip_prefix<'p>(&self, path: &'p [u8]) -> &'p [u8] {
        self.all
            .iter()
            .find_map(|condition| match condition {
                Condition::PathPrefix(prefix) => prefix.rest(path),
                _ => None,
            })
            .unwrap_or(path)
    }

    /// The backend this route proxies to, if it does.
    pub fn backend(&self) -> Option<usize> {
        match &self.action {
            Action::Proxy(proxy) => Some(proxy.backend),
            _ => None,
        }
    }
}

/// First route whose conditions hold.
pub fn select<'r>(
    routes: &'r [Route],
    input: &RouteInput,
    backend_live: &dyn Fn(usize) -> bool,
) -> Option<&'r Route> {
    routes
        .iter()
        .find(|route| route.matches(input, backend_live))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(name: &str, all: Vec<Condition>, none: Vec<Condition>, backend: usize) -> Route {
        Route {
            name: name.into(),
            all,
            none,
            action: Action::Proxy(Box::new(Proxy {
                backend,
                rewrite: None,
                upstream_host: None,
                request_edits: None,
                response_edits: None,
                reverse: None,
                upgrades: Box::new(["websocket".into()]),
                abort_on: AbortOn::Full,
                compress: None,
            })),
            rate_limit: None,
            max_body_bytes: None,
        }
    }

    #[test]
    fn upgrades_only_the_protocols_a_route_allows() {
        let Action::Proxy(proxy) = route("r", vec![], vec![], 0).action else {
            unreachable!("a proxy route");
        };
        assert!(proxy.allows_upgrade(b"websocket"));
        assert!(proxy.allows_upgrade(b"WebSocket"));
        assert!(!proxy.allows_upgrade(b"h2c"));
        assert!(!proxy.allows_upgrade(b"websocket, h2c"));
        assert!(!proxy.allows_upgrade(b""));
    }

    fn prefix(p: &str) -> Condition {
        Condition::PathPrefix(PathPrefix::new(p).expect("valid"))
    }

    fn pick(routes: &[Route], path: &[u8], live: &dyn Fn(usize) -> bool) -> Option<usize> {
        let input = RouteInput {
            method: "GET",
            target: path,
            path,
            host: b"h",
            headers: &[],
            client_ip: "127.0.0.1".parse().expect("ip"),
            listener: 0,
        };
        select(routes, &input, live).and_then(Route::backend)
    }

    #[test]
    fn first_matching_route_wins() {
        let routes = vec![
            route("a", vec![prefix("/api")], vec![], 0),
            route("b", vec![], vec![], 1),
        ];
        let up = |_| true;
        assert_eq!(pick(&routes, b"/api/x", &up), Some(0));
        assert_eq!(pick(&routes, b"/apix", &up), Some(1));
    }

    #[test]
    fn conditions_combine_with_and() {
        let routes = vec![route(
            "a",
            vec![prefix("/api"), Condition::BackendUp(5)],
            vec![],
            0,
        )];
        assert_eq!(pick(&routes, b"/api", &|b| b == 5), Some(0));
        assert_eq!(pick(&routes, b"/api", &|_| false), None);
        assert_eq!(pick(&routes, b"/web", &|_| true), None);
    }

    #[test]
    fn not_conditions_must_all_fail() {
        let routes = vec![
            route("a", vec![], vec![prefix("/admin"), prefix("/internal")], 0),
            route("b", vec![], vec![], 1),
        ];
        let up = |_| true;
        assert_eq!(pick(&routes, b"/shop", &up), Some(0));
        assert_eq!(pick(&routes, b"/admin/x", &up), Some(1));
        assert_eq!(pick(&routes, b"/internal", &up), Some(1));
    }

    #[test]
    fn backend_up_falls_through_to_the_next_route() {
        let routes = vec![
            route("affinity", vec![Condition::BackendUp(1)], vec![], 1),
            route("pool", vec![], vec![], 0),
        ];
        assert_eq!(pick(&routes, b"/", &|_| true), Some(1));
        assert_eq!(pick(&routes, b"/", &|b| b != 1), Some(0));
    }
}
