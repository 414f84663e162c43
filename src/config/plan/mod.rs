//! The validated runtime form of a config: addresses resolved, names turned
//! into indexes, defaults applied. Shared read-only by every worker.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use std::sync::Arc;

mod backend;
mod conditions;
pub mod connection_cap;
pub mod http2;
mod limits;
mod route;
mod servers;

use super::schema::{ConfigFile, ListenerSection, ListenerTls, ServerSection};
use crate::route::{Respond, Route};
use crate::tls::CertPaths;
pub use crate::upstream::backend::{Backend, PoolSettings, Server, UpstreamTimeouts};
use crate::upstream::health::Health;
use crate::upstream::limit::ServerSlots;
use conditions::Names;

/// Where a validation error is, and what is wrong.
pub type PlanError = (String, String);

/// Where something worth a warning is, and what: the config loads all the
/// same (an expired certificate, a name two certificates claim).
pub type PlanWarning = (String, String);

#[derive(Debug)]
pub struct Plan {
    /// `None`: one worker per CPU the process may run on.
    pub workers: Option<usize>,
    /// `[server] pin_workers`; `None`: decided at start (`crate::pinning`).
    pub pin_workers: Option<bool>,
    pub backlog: u32,
    pub shutdown_grace: Duration,
    /// `[server.http2]`.
    pub http2: http2::Http2Limits,
    pub limits: Limits,
    /// `[server.limits] max_body_bytes` (`u64::MAX`: no limit); a route's
    /// own takes its place (`max_body_bytes()`). Not the parser's: a body
    /// is checked as it is forwarded.
    pub body_limit: u64,
    pub client_timeouts: ClientTimeouts,
    pub pool: PoolSettings,
    pub listeners: Vec<ListenerPlan>,
    pub routes: Vec<Route>,
    pub backends: Vec<Backend>,
    /// Every server of every backend, so per-worker state can be a flat Vec.
    pub server_count: usize,
    /// Health of each distinct server address, and what to probe.
    pub health: Health,
    /// Workers running this plan (set at start).
    pub worker_count: usize,
    /// Servers' `max_connections`: slots and queues for the whole process.
    pub server_slots: Arc<ServerSlots>,
    /// `[server] max_connections` as configured (per process).
    pub max_connections: Option<usize>,
    /// Client connections each worker holds at once: the configured or
    /// derived cap divided among the workers (set with `worker_count`, see
    /// `connection_cap::resolve_connection_cap`).
    pub worker_connections: usize,
    /// The answer when no route matches.
    pub no_route: Respond,
    pub admin: Option<super::admin::AdminPlan>,
    pub log: super::log_section::LogPlan,
    /// `[server] pid_file`.
    pub pid_file: Option<std::path::PathBuf>,
    /// `[server] upgrade_socket`.
    pub upgrade_socket: Option<std::path::PathBuf>,
    /// Server names to look up, and where (see `discovery`).
    pub discovery: crate::discovery::Wanted,
    /// What the operator should hear of though the config loads: printed
    /// by `--check`, logged at start and on a reload.
    pub warnings: Vec<PlanWarning>,
}

impl Plan {
    /// The most a request body may carry on route `route`: its own
    /// `max_body_bytes`, else `[server.limits]`'s (`u64::MAX`: no limit).
    pub fn max_body_bytes(&self, route: usize) -> u64 {
        self.routes
            .get(route)
            .and_then(|route| route.max_body_bytes)
            .unwrap_or(self.body_limit)
    }
}

pub use crate::http::Limits;

#[derive(Debug, Clone, Copy)]
pub struct ClientTimeouts {
    pub header: Duration,
    pub idle: Duration,
    pub inflight: Duration,
}

pub struct ListenerPlan {
    pub name: String,
    pub addrs: Vec<SocketAddr>,
    /// Present on listeners that terminate TLS.
    pub tls: Option<Arc<crate::tls::ServerTls>>,
    /// `max_connections_per_client`, shared by every worker.
    pub conn_limit: Option<Arc<crate::limits::ConnLimit>>,
    /// `accept_proxy`: the ranges that may (and then must) send a PROXY
    /// header.
    pub accept_proxy: Option<Box<[crate::route::cidr::Cidr]>>,
    /// HTTP/2 is offered: ALPN `h2` on TLS, prior knowledge on plain.
    pub http2: bool,
}

impl std::fmt::Debug for ListenerPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerPlan")
            .field("name", &self.name)
            .field("addrs", &self.addrs)
            .field("tls", &self.tls.is_some())
            .field("conn_limit", &self.conn_limit)
            .field("accept_proxy", &self.accept_proxy)
            .field("http2", &self.http2)
            .finish()
    }
}

/// The largest `max_headers` accepted: the parser's header array lives on the stack.
pub const MAX_HEADERS_CAP: usize = 256;

/// The most workers tern runs. A worker is a thread per core: past the
/// CPUs it may run on, another one serves nothing more, and each costs
/// descriptors (a ring, a doorbell, a socket per listener address) and
/// memory. The CPU count can't be the bound: `--check` may run on another
/// machine, and cgroups change it. This is above the hardware threads of
/// the largest common servers (two 192-core sockets with SMT: 768).
pub const MAX_WORKERS: usize = 1024;

/// How many workers run: `[server] workers`, or one per CPU this process
/// may run on, at most `MAX_WORKERS` (a machine with more CPUs gets the
/// bound a configured count is held to, not a refusal at start).
pub fn worker_count(configured: Option<usize>, cpus: usize) -> usize {
    configured.unwrap_or(cpus.min(MAX_WORKERS)).max(1)
}

pub fn build(file: &ConfigFile) -> Result<Plan, PlanError> {
    let server = &file.server;
    check_workers(server.workers)?;
    if server.max_connections == Some(0) {
        return Err(err("server.max_connections", "must be at least 1"));
    }
    check_step_timeouts(file)?;
    let limits = build_limits(file)?;
    let body_limit = build_body_limit(file)?;
    let mut warnings = Vec::new();
    let listeners = build_listeners(file, &mut warnings)?;
    let built = backend::build_backends(file)?;
    let routes = build_routes(file, &listeners, &built.backends)?;
    let no_route = build_no_route(server)?;
    let t = &server.timeouts;
    let server_slots = Arc::new(ServerSlots::new(&built.backends, built.server_count));
    let admin = build_admin(file, &listeners)?;
    Ok(Plan {
        workers: server.workers,
        pin_workers: server.pin_workers,
        backlog: server.backlog,
        shutdown_grace: server.shutdown_grace.0,
        http2: http2::build(&server.http2)?,
        limits,
        body_limit,
        client_timeouts: ClientTimeouts {
            header: t.client_header.0,
            idle: t.client_idle.0,
            inflight: t.client.0,
        },
        pool: PoolSettings {
            max_idle_per_server: server.pool.max_idle_per_server,
            idle_timeout: server.pool.idle_timeout.0,
        },
        listeners,
        routes,
        backends: built.backends,
        server_slots,
        server_count: built.server_count,
        health: built.health,
        worker_count: server.workers.unwrap_or(1),
        max_connections: server.max_connections,
        worker_connections: usize::MAX,
        no_route,
        admin,
        log: super::log_section::build_log(&file.log)?,
        pid_file: nonempty_path("server.pid_file", &server.pid_file)?,
        upgrade_socket: nonempty_path("server.upgrade_socket", &server.upgrade_socket)?,
        discovery: built.wanted,
        warnings,
    })
}

/// `[server] workers`: from 1 to `MAX_WORKERS` (absent: one per CPU).
fn check_workers(workers: Option<usize>) -> Result<(), PlanError> {
    match workers {
        Some(0) => Err(err("server.workers", "must be at least 1")),
        Some(n) if n > MAX_WORKERS => Err(err(
            "server.workers",
            format!(
                "{n} is too many: at most {MAX_WORKERS}; one per CPU serves best (leave it out for that)"
            ),
        )),
        _ => Ok(()),
    }
}

/// Every `[[listener]]`: at least one, names and addresses unique. What is
/// worth a warning (their certificates) goes to `warnings`.
fn build_listeners(
    file: &ConfigFile,
    warnings: &mut Vec<PlanWarning>,
) -> Result<Vec<ListenerPlan>, PlanError> {
    let sites = challenge_sites(file);
    let listeners = file
        .listeners
        .iter()
        .enumerate()
        .map(|(i, l)| build_listener(i, l, sites, warnings))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some((i, l)) = listeners
        .iter()
        .enumerate()
        .find(|(i, l)| listeners[..*i].iter().any(|o| o.name == l.name))
    {
        return Err(err(
            format!("listener[{i}].name"),
            format!("another listener is already named {:?}", l.name),
        ));
    }
    check_addresses(&listeners)?;
    if listeners.is_empty() {
        return Err(err(
            "listener",
            "at least one [[listener]] with a bind address is needed",
        ));
    }
    Ok(listeners)
}

/// What a request no route matches gets: `server.no_route`, else a 404.
fn build_no_route(server: &ServerSection) -> Result<Respond, PlanError> {
    match &server.no_route {
        Some(section) => {
            route::build_respond(section).map_err(|m| err("server.no_route.status", m))
        }
        None => Ok(Respond::new(
            404,
            &[("Content-Type".into(), "text/plain".into())],
            "Not Found\n",
        )),
    }
}

/// What is wrong with an address written without a port, or an IPv6
/// address with a port but no brackets: `"::1:8080"` is itself an IPv6
/// address, so it is refused rather than guessed at.
fn missing_port_or_brackets(text: &str) -> Option<String> {
    if let Ok(ip) = text.parse::<std::net::IpAddr>() {
        let bracketed = text.rsplit_once(':').filter(|(ip, port)| {
            ip.parse::<std::net::Ipv6Addr>().is_ok() && port.parse::<u16>().is_ok()
        });
        return Some(match (ip, bracketed) {
            (std::net::IpAddr::V6(_), Some((ip, port))) => {
                format!("an IPv6 address with a port needs brackets: \"[{ip}]:{port}\"")
            }
            (std::net::IpAddr::V6(_), None) => {
                format!("the port is missing: \"[{text}]:PORT\"")
            }
            (std::net::IpAddr::V4(_), _) => format!("the port is missing: \"{text}:PORT\""),
        });
    }
    let plain_name = !text.is_empty() && !text.contains(':') && !text.contains('/');
    plain_name.then(|| format!("the port is missing: \"{text}:PORT\""))
}

fn nonempty_path(
    key: &str,
    path: &Option<String>,
) -> Result<Option<std::path::PathBuf>, PlanError> {
    match path.as_deref() {
        Some("") => Err(err(key, "is empty")),
        Some(path) => {
            let path = std::path::PathBuf::from(path);
            check_directory(key, &path)?;
            Ok(Some(path))
        }
        None => Ok(None),
    }
}

/// tern creates the file at start; a missing directory would only show
/// after the listeners are up, so `--check` finds it here.
fn check_directory(key: &str, path: &std::path::Path) -> Result<(), PlanError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => return Ok(()),
    };
    if dir.is_dir() {
        return Ok(());
    }
    Err(err(
        key,
        format!("the directory {} does not exist", dir.display()),
    ))
}

/// Timeouts that bound one step of every request can't be 0: each step
/// would fail at once (a head not in the first read, a 408), a mistake, not
/// "no timeout". `client_idle`, the pool's `idle_timeout` and a backend's
/// `queue` may be 0: no keep-alive wait, no idle pool, no queueing.
fn check_step_timeouts(file: &ConfigFile) -> Result<(), PlanError> {
    const ZERO: &str = "must be more than 0 (at 0 every request would fail at once)";
    let t = &file.server.timeouts;
    let server = [
        ("client_header", t.client_header),
        ("client", t.client),
        ("connect", t.connect),
        ("server", t.server),
        ("tunnel", t.tunnel),
    ];
    if let Some((key, _)) = server.iter().find(|(_, d)| d.0.is_zero()) {
        return Err(err(format!("server.timeouts.{key}"), ZERO));
    }
    for (name, backend) in &file.backends {
        let o = &backend.timeouts;
        let overrides = [
            ("connect", o.connect),
            ("server", o.server),
            ("tunnel", o.tunnel),
        ];
        if let Some((key, _)) = overrides
            .iter()
            .find(|(_, d)| d.is_some_and(|d| d.0.is_zero()))
        {
            return Err(err(format!("backend.{name}.timeouts.{key}"), ZERO));
        }
    }
    Ok(())
}

fn err(key: impl Into<String>, message: impl Into<String>) -> PlanError {
    (key.into(), message.into())
}

fn build_routes(
    file: &ConfigFile,
    listeners: &[ListenerPlan],
    backends: &[Backend],
) -> Result<Vec<Route>, PlanError> {
    let names = Names {
        backends: &backends.iter().map(|b| b.name.clone()).collect::<Vec<_>>(),
        listeners: &listeners.iter().map(|l| l.name.clone()).collect::<Vec<_>>(),
    };
    let mut routes: Vec<Route> = Vec::new();
    for (index, section) in file.routes.iter().enumerate() {
        let built = route::build_route(index, section, &names, backends)?;
        if routes.iter().any(|r| r.name == built.name) {
            return Err(err(
                format!("route[{index}].name"),
                format!("another route is already named {:?}", built.name),
            ));
        }
        routes.push(built);
    }
    Ok(routes)
}

fn build_limits(file: &ConfigFile) -> Result<Limits, PlanError> {
    let l = &file.server.limits;
    if !(1..=MAX_HEADERS_CAP).contains(&l.max_headers) {
        return Err(err(
            "server.limits.max_headers",
            format!("must be between 1 and {MAX_HEADERS_CAP}"),
        ));
    }
    if l.max_head_bytes < 256 {
        return Err(err("server.limits.max_head_bytes", "must be at least 256"));
    }
    if l.max_request_line_bytes < 16 {
        return Err(err(
            "server.limits.max_request_line_bytes",
            "must be at least 16",
        ));
    }
    Ok(Limits {
        max_head_bytes: l.max_head_bytes,
        // The request line is part of the head, so the head limit caps it too.
        max_request_line_bytes: l.max_request_line_bytes.min(l.max_head_bytes),
        max_headers: l.max_headers,
    })
}

fn build_body_limit(file: &ConfigFile) -> Result<u64, PlanError> {
    match file.server.limits.max_body_bytes {
        Some(0) => Err(err(
            "server.limits.max_body_bytes",
            "must be at least 1 (leave it out for no limit)",
        )),
        limit => Ok(limit.unwrap_or(u64::MAX)),
    }
}

/// Where ACME challenges can be answered: on plain listeners (HTTP-01),
/// and whether one of them binds port 80, where the CA asks. A bind that
/// doesn't parse is left to `build_listener` to name.
pub(in crate::config) fn challenge_sites(file: &ConfigFile) -> crate::acme::Sites {
    let plain = file.listeners.iter().filter(|l| l.tls.is_none());
    crate::acme::Sites {
        plain: plain.clone().next().is_some(),
        plain_on_80: plain
            .flat_map(|l| l.bind.to_vec())
            .any(|text| binds_port(&text, 80)),
        tls_on_443: false,
    }
}

fn binds_port(text: &str, port: u16) -> bool {
    resolve_one(text).is_ok_and(|addr| addr.port() == port)
}

fn build_listener(
    index: usize,
    section: &ListenerSection,
    sites: crate::acme::Sites,
    warnings: &mut Vec<PlanWarning>,
) -> Result<ListenerPlan, PlanError> {
    let name = section
        .name
        .clone()
        .unwrap_or_else(|| format!("listener{index}"));
    let mut addrs = Vec::new();
    for (i, text) in section.bind.to_vec().iter().enumerate() {
        let key = format!("listener[{index}].bind[{i}]");
        addrs.push(resolve_one(text).map_err(|message| err(key, message))?);
    }
    if addrs.is_empty() {
        return Err(err(format!("listener[{index}].bind"), "is empty"));
    }
    // On by default where a client can ask for it by ALPN; on a plain
    // listener only when asked (prior knowledge, behind a TLS balancer).
    let http2 = section.http2.unwrap_or(section.tls.is_some());
    let sites = crate::acme::Sites {
        tls_on_443: addrs.iter().any(|addr| addr.port() == 443),
        ..sites
    };
    let tls = section
        .tls
        .as_ref()
        .map(|tls| build_tls(index, tls, sites, http2, warnings))
        .transpose()?;
    let at = format!("listener[{index}]");
    Ok(ListenerPlan {
        conn_limit: limits::conn_limit(&at, &name, section)?,
        accept_proxy: limits::accept_proxy(&at, section)?,
        name,
        addrs,
        tls,
        http2,
    })
}

/// Two listeners on one address would split its connections between them
/// (SO_REUSEPORT): refused, as nginx and HAProxy refuse it at bind.
fn check_addresses(listeners: &[ListenerPlan]) -> Result<(), PlanError> {
    let all = || {
        listeners.iter().enumerate().flat_map(|(l, plan)| {
            plan.addrs
                .iter()
                .enumerate()
                .map(move |(b, addr)| (l, b, *addr))
        })
    };
    for (seen, (l, b, addr)) in all().enumerate() {
        if let Some((_, _, other)) = all().take(seen).find(|(_, _, o)| overlap(*o, addr)) {
            return Err(err(
                format!("listener[{l}].bind[{b}]"),
                format!("{addr} is already bound by {other} (another bind address): address already in use"),
            ));
        }
    }
    Ok(())
}

/// `[admin]`, whose address must not be a listener's too: the admin
/// endpoint binds without SO_REUSEPORT, so the clash passed `--check` and
/// only failed at start ("Address already in use").
fn build_admin(
    file: &ConfigFile,
    listeners: &[ListenerPlan],
) -> Result<Option<super::admin::AdminPlan>, PlanError> {
    let admin = super::admin::build_admin(file.admin.as_ref())?;
    if let Some(admin) = &admin {
        check_admin_address(admin.bind, listeners)?;
    }
    Ok(admin)
}

/// The admin bind against every listener's, named as a person would: by
/// the listener's name and its key.
fn check_admin_address(admin: SocketAddr, listeners: &[ListenerPlan]) -> Result<(), PlanError> {
    for (index, listener) in listeners.iter().enumerate() {
        let Some(addr) = listener.addrs.iter().find(|addr| overlap(**addr, admin)) else {
            continue;
        };
        let whose = format!("listener {:?}'s bind", listener.name);
        // A wildcard on either side takes the other's address too.
        let clash = if *addr == admin {
            format!("is also {whose}")
        } else {
            format!("overlaps {whose} {addr}")
        };
        return Err(err(
            "admin.bind",
            format!(
                "[admin] bind {admin} {clash} (listener[{index}].bind): address already \
                 in use (give the admin endpoint a port of its own)"
            ),
        ));
    }
    Ok(())
}

/// Same port and family, and the same IP or a wildcard on either side.
/// Port 0 asks the kernel for a free port, so it never overlaps.
fn overlap(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && a.is_ipv4() == b.is_ipv4()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// A listener's TLS configuration; its certificates' warnings, named by
/// their key (`listener[0].tls.certificates[1]`), go to `warnings`.
fn build_tls(
    index: usize,
    tls: &ListenerTls,
    sites: crate::acme::Sites,
    http2: bool,
    warnings: &mut Vec<PlanWarning>,
) -> Result<Arc<crate::tls::ServerTls>, PlanError> {
    let key = format!("listener[{index}].tls.certificates");
    if tls.certificates.is_empty() && tls.acme.is_none() {
        return Err(err(
            key,
            "needs at least one { cert, key } (or an acme table)",
        ));
    }
    let acme = tls
        .acme
        .as_ref()
        .map(|section| crate::acme::build(&format!("listener[{index}].tls.acme"), section, sites))
        .transpose()?;
    let paths: Vec<CertPaths> = tls
        .certificates
        .iter()
        .map(|c| CertPaths {
            cert: &c.cert,
            key: &c.key,
        })
        .collect();
    let (server_tls, said) =
        crate::tls::server_config(&paths, acme, http2).map_err(|e| err(key, e.to_string()))?;
    let at = |warning: crate::tls::CertWarning| {
        let key = format!("listener[{index}].tls.{}", warning.key);
        (key, warning.message)
    };
    warnings.extend(said.into_iter().map(at));
    Ok(server_tls)
}

/// "127.0.0.1:80", "[::1]:80" or "localhost:80" (resolved once, here).
pub(super) fn resolve_one(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let invalid = || format!("invalid address {text:?}: expected \"ip:port\" or \"host:port\"");
    if let Some(problem) = missing_port_or_brackets(text) {
        return Err(format!("invalid address {text:?}: {problem}"));
    }
    let (host, port) = text.rsplit_once(':').ok_or_else(invalid)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(invalid());
    }
    let mut resolved = text
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {text:?}: {e}"))?;
    resolved
        .next()
        .ok_or_else(|| format!("{text:?} resolves to no address"))
}
