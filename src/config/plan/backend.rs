//! Backends: servers resolved and numbered, balancing, stickiness, and the
//! health slots and probes shared by the whole process.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{err, PlanError, UpstreamTimeouts};
use crate::config::schema::{
    BackendSection, BalanceName, ConfigFile, HealthCheckSection, StickyModeName,
};
use crate::discovery::Wanted;
use crate::upstream::backend::{Backend, Server};
use crate::upstream::balance::Balance;
use crate::upstream::health::{Health, HealthCheck, Passive, Probe};
use crate::upstream::pick::MAX_SERVERS;
use crate::upstream::sticky::{Sticky, StickyMode};

/// What building the backends produces besides the backends.
pub struct Built {
    pub backends: Vec<Backend>,
    pub server_count: usize,
    pub health: Health,
    /// The names to look up, for the discovery thread.
    pub wanted: Wanted,
}

/// Health slots by address, and the probe (with its backend) of each.
#[derive(Default)]
pub struct Slots {
    pub by_address: HashMap<SocketAddr, usize>,
    pub probes: Vec<Probe>,
}

impl Slots {
    /// The address of each slot, by slot index.
    fn addresses(&self) -> Vec<SocketAddr> {
        let mut addresses = vec![SocketAddr::from(([0, 0, 0, 0], 0)); self.by_address.len()];
        for (&address, &slot) in &self.by_address {
            addresses[slot] = address;
        }
        addresses
    }
}

pub fn build_backends(file: &ConfigFile) -> Result<Built, PlanError> {
    let mut backends = Vec::new();
    let mut next_id = 0;
    let mut slots = Slots::default();
    let mut wanted = Wanted::default();
    for (name, section) in &file.backends {
        let at = Place {
            next_id: &mut next_id,
            slots: &mut slots,
            wanted: &mut wanted,
        };
        backends.push(build_backend(name, section, at, file)?);
    }
    if !wanted.queries.is_empty() {
        wanted.resolvers = resolvers(file)?;
    }
    Ok(Built {
        backends,
        server_count: next_id,
        health: Health::new(&slots.addresses(), slots.probes),
        wanted,
    })
}

/// What every backend adds to as it is built.
struct Place<'a> {
    next_id: &'a mut usize,
    slots: &'a mut Slots,
    wanted: &'a mut Wanted,
}

/// `[server] resolvers`, else the system's.
fn resolvers(file: &ConfigFile) -> Result<Vec<SocketAddr>, PlanError> {
    let Some(list) = &file.server.resolvers else {
        return Ok(crate::discovery::resolvers::system());
    };
    if list.is_empty() {
        return Err(err(
            "server.resolvers",
            "is empty; remove it to use /etc/resolv.conf",
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, text)| {
            crate::discovery::resolvers::parse(text)
                .map_err(|m| err(format!("server.resolvers[{i}]"), m))
        })
        .collect()
}

fn build_backend(
    name: &str,
    section: &BackendSection,
    at: Place,
    file: &ConfigFile,
) -> Result<Backend, PlanError> {
    let key = |rest: &str| format!("backend.{name}.{rest}");
    let slots = at.slots;
    check_list(name, section)?;
    let servers = super::servers::build_servers(name, section, at.next_id, slots, at.wanted)?;
    check_servers(name, &servers, section)?;
    if let Some(check) = &section.health_check {
        let check =
            build_check(check).map_err(|(k, m)| err(key(&format!("health_check.{k}")), m))?;
        add_probes(name, &servers, check, slots)?;
    }
    let passive = match &section.passive {
        Some(p) if p.failures == 0 => {
            return Err(err(key("passive.failures"), "must be at least 1"))
        }
        Some(p) => Some(Passive {
            failures: p.failures,
            down_for: p.down_for.0,
        }),
        None => None,
    };
    Ok(Backend {
        name: name.to_owned(),
        sends_proxy: servers.iter().any(|s| s.send_proxy.is_some()),
        servers,
        timeouts: timeouts(section, file),
        balance: balance(section.balance),
        retries: section.retries,
        redispatch: section.redispatch,
        sticky: build_sticky(name, section)?,
        passive,
        tls: build_tls(name, section)?,
    })
}

/// The client config of a TLS backend; `tls_ca` and `tls_server_name`
/// without `tls = true` are refused as a likely mistake.
fn build_tls(
    name: &str,
    section: &BackendSection,
) -> Result<Option<Arc<rustls::ClientConfig>>, PlanError> {
    if !section.tls {
        let stray = [
            (section.tls_ca.is_some(), "tls_ca"),
            (section.tls_server_name.is_some(), "tls_server_name"),
        ];
        return match stray.iter().find(|(given, _)| *given) {
            Some((_, key)) => Err(err(format!("backend.{name}.{key}"), "needs tls = true")),
            None => Ok(None),
        };
    }
    crate::tls::upstream::client_config(section.tls_ca.as_deref())
        .map(Some)
        .map_err(|m| err(format!("backend.{name}.tls_ca"), m))
}

/// The list as written: not empty, not too long, a sane `resolve_every`.
fn check_list(name: &str, section: &BackendSection) -> Result<(), PlanError> {
    if section.servers.is_empty() {
        return Err(err(
            format!("backend.{name}.servers"),
            "needs at least one server",
        ));
    }
    if section.resolve_every.0 < crate::discovery::MIN_INTERVAL {
        return Err(err(
            format!("backend.{name}.resolve_every"),
            "must be at least 1s",
        ));
    }
    Ok(())
}

/// The servers made from the list (names expanded). A backend whose names
/// have not resolved yet has none, and answers 503 until they do.
fn check_servers(
    name: &str,
    servers: &[Server],
    section: &BackendSection,
) -> Result<(), PlanError> {
    let key = format!("backend.{name}.servers");
    if servers.len() > MAX_SERVERS {
        return Err(err(
            key,
            format!("has more than {MAX_SERVERS} servers (after DNS names are expanded)"),
        ));
    }
    if servers.is_empty() {
        return Ok(());
    }
    if servers.iter().all(|s| s.weight == 0) {
        return Err(err(
            key,
            "every server has weight 0, so none would get requests",
        ));
    }
    if servers.iter().all(|s| s.backup) {
        return Err(err(
            key,
            "every server is a backup; at least one must be a primary",
        ));
    }
    if section.sticky.is_some() {
        for (i, server) in servers.iter().enumerate() {
            if servers[..i].iter().any(|s| s.route == server.route) {
                return Err(err(
                    format!("{key}[{i}].route"),
                    format!(
                        "route {:?} is used by two servers; sticky sessions need distinct routes",
                        server.route
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn timeouts(section: &BackendSection, file: &ConfigFile) -> UpstreamTimeouts {
    let defaults = &file.server.timeouts;
    let overrides = &section.timeouts;
    UpstreamTimeouts {
        connect: overrides.connect.unwrap_or(defaults.connect).0,
        server: overrides.server.unwrap_or(defaults.server).0,
        tunnel: overrides.tunnel.unwrap_or(defaults.tunnel).0,
        queue: overrides.queue.map_or(DEFAULT_QUEUE, |d| d.0),
    }
}

/// How long a request waits for a server at `max_connections` by default.
const DEFAULT_QUEUE: Duration = Duration::from_secs(5);

fn balance(name: BalanceName) -> Balance {
    match name {
        BalanceName::RoundRobin => Balance::RoundRobin,
        BalanceName::LeastConn => Balance::LeastConn,
        BalanceName::RandomTwo => Balance::RandomTwo,
        BalanceName::SourceHash => Balance::SourceHash,
        BalanceName::UriHash => Balance::UriHash,
    }
}

fn build_sticky(name: &str, section: &BackendSection) -> Result<Option<Sticky>, PlanError> {
    let Some(sticky) = &section.sticky else {
        return Ok(None);
    };
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if sticky.cookie.is_empty() || !sticky.cookie.bytes().all(token) {
        return Err(err(
            format!("backend.{name}.sticky.cookie"),
            format!("{:?} is not a valid cookie name", sticky.cookie),
        ));
    }
    Ok(Some(Sticky {
        cookie: sticky.cookie.clone(),
        mode: match sticky.mode {
            StickyModeName::Route => StickyMode::Route,
            StickyModeName::Insert => StickyMode::Insert,
        },
    }))
}

/// Errors are (key below `health_check`, message).
fn build_check(section: &HealthCheckSection) -> Result<HealthCheck, PlanError> {
    if section.rise == 0 {
        return Err(err("rise", "must be at least 1"));
    }
    if section.fall == 0 {
        return Err(err("fall", "must be at least 1"));
    }
    if section.interval.0 < Duration::from_millis(10) {
        return Err(err("interval", "must be at least 10ms"));
    }
    if section.timeout.0.is_zero() {
        return Err(err("timeout", "must be more than 0"));
    }
    if !section.path.starts_with('/') || section.path.bytes().any(|b| b <= b' ') {
        return Err(err(
            "path",
            format!("{:?} must start with '/' and hold no spaces", section.path),
        ));
    }
    if section.method.is_empty() || !section.method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(err(
            "method",
            format!("{:?} is not a method such as \"GET\"", section.method),
        ));
    }
    if let Some(bad) = section.status.iter().find(|s| !(100..=599).contains(*s)) {
        return Err(err("status", format!("{bad} is not an HTTP status")));
    }
    Ok(HealthCheck {
        method: section.method.clone(),
        path: section.path.clone(),
        host: section.host.clone(),
        statuses: section.status.clone(),
        interval: section.interval.0,
        timeout: section.timeout.0,
        rise: section.rise,
        fall: section.fall,
    })
}

/// One probe per address: a second backend checking the same address must
/// check it the same way, or the shared state would flip between them.
fn add_probes(
    name: &str,
    servers: &[Server],
    check: HealthCheck,
    slots: &mut Slots,
) -> Result<(), PlanError> {
    for server in servers {
        match slots.probes.iter().find(|p| p.slot == server.health) {
            Some(probe) if probe.check != check => {
                return Err(err(
                    format!("backend.{name}.health_check"),
                    format!(
                        "server {} is also checked by {} with other settings; one address has one health state, so its checks must agree",
                        server.label,
                        probe.label
                    ),
                ))
            }
            Some(_) => {}
            None => slots.probes.push(Probe {
                slot: server.health,
                address: server.address,
                label: format!("{name}/{}", server.label),
                check: check.clone(),
                send_proxy: server.send_proxy,
            }),
        }
    }
    Ok(())
}
