//! The validated runtime form of a config: addresses resolved, names turned
//! into indexes, defaults applied. Shared read-only by every worker.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use std::sync::Arc;

use super::schema::{BackendSection, ConfigFile, ListenerSection, ListenerTls, RouteSection};
use crate::route::{PathPrefix, Route};
use crate::tls::CertPaths;

/// Where a validation error is, and what is wrong.
pub type PlanError = (String, String);

#[derive(Debug)]
pub struct Plan {
    /// `None`: one worker per CPU the process may run on.
    pub workers: Option<usize>,
    pub backlog: u32,
    pub shutdown_grace: Duration,
    pub limits: Limits,
    pub client_timeouts: ClientTimeouts,
    pub pool: PoolSettings,
    pub listeners: Vec<ListenerPlan>,
    pub routes: Vec<Route>,
    pub backends: Vec<Backend>,
    /// Every server of every backend, so per-worker state can be a flat Vec.
    pub server_count: usize,
    pub admin: Option<super::admin::AdminPlan>,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_head_bytes: usize,
    pub max_request_line_bytes: usize,
    pub max_headers: usize,
}

#[derive(Debug, Clone, Copy)]
pub struct ClientTimeouts {
    pub header: Duration,
    pub idle: Duration,
    pub inflight: Duration,
}

#[derive(Debug, Clone, Copy)]
pub struct UpstreamTimeouts {
    pub connect: Duration,
    pub server: Duration,
    pub tunnel: Duration,
}

#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_idle_per_server: usize,
    pub idle_timeout: Duration,
}

pub struct ListenerPlan {
    pub name: String,
    pub addrs: Vec<SocketAddr>,
    /// Present on listeners that terminate TLS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl std::fmt::Debug for ListenerPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerPlan")
            .field("name", &self.name)
            .field("addrs", &self.addrs)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

#[derive(Debug)]
pub struct Backend {
    pub name: String,
    pub servers: Vec<Server>,
    pub timeouts: UpstreamTimeouts,
}

#[derive(Debug)]
pub struct Server {
    /// Index over all servers of the plan.
    pub id: usize,
    pub address: SocketAddr,
}

/// The largest `max_headers` accepted: the parser's header array lives on the stack.
pub const MAX_HEADERS_CAP: usize = 256;

pub fn build(file: &ConfigFile) -> Result<Plan, PlanError> {
    let server = &file.server;
    if server.workers == Some(0) {
        return Err(err("server.workers", "must be at least 1"));
    }
    let limits = build_limits(file)?;
    let listeners = file
        .listeners
        .iter()
        .enumerate()
        .map(|(i, l)| build_listener(i, l))
        .collect::<Result<Vec<_>, _>>()?;
    if listeners.is_empty() {
        return Err(err(
            "listener",
            "at least one [[listener]] with a bind address is needed",
        ));
    }
    let (backends, server_count) = build_backends(file)?;
    let routes = file
        .routes
        .iter()
        .enumerate()
        .map(|(i, r)| build_route(i, r, &backends))
        .collect::<Result<Vec<_>, _>>()?;
    let t = &server.timeouts;
    Ok(Plan {
        workers: server.workers,
        backlog: server.backlog,
        shutdown_grace: server.shutdown_grace.0,
        limits,
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
        backends,
        server_count,
        admin: super::admin::build_admin(file.admin.as_ref())?,
    })
}

fn err(key: impl Into<String>, message: impl Into<String>) -> PlanError {
    (key.into(), message.into())
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

fn build_listener(index: usize, section: &ListenerSection) -> Result<ListenerPlan, PlanError> {
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
    let tls = section
        .tls
        .as_ref()
        .map(|tls| build_tls(index, tls))
        .transpose()?;
    Ok(ListenerPlan { name, addrs, tls })
}

fn build_tls(index: usize, tls: &ListenerTls) -> Result<Arc<rustls::ServerConfig>, PlanError> {
    let key = format!("listener[{index}].tls.certificates");
    if tls.certificates.is_empty() {
        return Err(err(key, "needs at least one { cert, key }"));
    }
    let paths: Vec<CertPaths> = tls
        .certificates
        .iter()
        .map(|c| CertPaths {
            cert: &c.cert,
            key: &c.key,
        })
        .collect();
    crate::tls::server_config(&paths).map_err(|e| err(key, e.to_string()))
}

fn build_backends(file: &ConfigFile) -> Result<(Vec<Backend>, usize), PlanError> {
    let mut backends = Vec::new();
    let mut next_id = 0;
    for (name, section) in &file.backends {
        let backend = build_backend(name, section, &mut next_id, file)?;
        backends.push(backend);
    }
    Ok((backends, next_id))
}

fn build_backend(
    name: &str,
    section: &BackendSection,
    next_id: &mut usize,
    file: &ConfigFile,
) -> Result<Backend, PlanError> {
    if section.servers.is_empty() {
        return Err(err(
            format!("backend.{name}.servers"),
            "needs at least one server",
        ));
    }
    let mut servers = Vec::new();
    for (i, entry) in section.servers.iter().enumerate() {
        let key = format!("backend.{name}.servers[{i}].address");
        let address = resolve_one(&entry.0.address).map_err(|message| err(key, message))?;
        servers.push(Server {
            id: *next_id,
            address,
        });
        *next_id += 1;
    }
    let defaults = &file.server.timeouts;
    let overrides = &section.timeouts;
    Ok(Backend {
        name: name.to_owned(),
        servers,
        timeouts: UpstreamTimeouts {
            connect: overrides.connect.unwrap_or(defaults.connect).0,
            server: overrides.server.unwrap_or(defaults.server).0,
            tunnel: overrides.tunnel.unwrap_or(defaults.tunnel).0,
        },
    })
}

fn build_route(
    index: usize,
    section: &RouteSection,
    backends: &[Backend],
) -> Result<Route, PlanError> {
    let backend = backends
        .iter()
        .position(|b| b.name == section.backend)
        .ok_or_else(|| {
            err(
                format!("route[{index}].backend"),
                format!(
                    "no backend named {:?} (add a [backend.{}] table)",
                    section.backend, section.backend
                ),
            )
        })?;
    let path_prefix = match &section.path_prefix {
        None => None,
        Some(prefix) => Some(
            PathPrefix::new(prefix).map_err(|m| err(format!("route[{index}].path_prefix"), m))?,
        ),
    };
    Ok(Route {
        name: section
            .name
            .clone()
            .unwrap_or_else(|| format!("route{index}")),
        path_prefix,
        backend,
    })
}

/// "127.0.0.1:80", "[::1]:80" or "localhost:80" (resolved once, here).
fn resolve_one(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let invalid = || format!("invalid address {text:?}: expected \"ip:port\" or \"host:port\"");
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
