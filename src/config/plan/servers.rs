//! A backend's `servers` list turned into servers: an IP address is one
//! server; a name (`"app:8080"`) or an SRV name is as many servers as it
//! resolved to (see `discovery`), and none while it never has (the
//! backend answers 503 until then).

use std::collections::HashMap;
use std::net::SocketAddr;

use super::backend::Slots;
use super::{err, resolve_one, PlanError};
use crate::config::schema::{BackendSection, ServerTable};
use crate::discovery::{self, Query, Target, Wanted};
use crate::upstream::backend::Server;
use crate::upstream::hash::fnv1a;

/// What an entry names: a fixed address, or a name to look up (with the
/// port for an A/AAAA name).
enum Source {
    Fixed(SocketAddr),
    Named(Query, u16),
}

pub fn build_servers(
    name: &str,
    section: &BackendSection,
    next_id: &mut usize,
    slots: &mut Slots,
    wanted: &mut Wanted,
) -> Result<Vec<Server>, PlanError> {
    let mut servers = Vec::new();
    let mut listed = HashMap::new();
    for (i, entry) in section.servers.iter().enumerate() {
        let table = &entry.0;
        let key = format!("backend.{name}.servers[{i}]");
        if table.max_connections == Some(0) {
            return Err(err(format!("{key}.max_connections"), "must be at least 1"));
        }
        let (targets, named) = match source(table, &key)? {
            Source::Fixed(address) => (vec![Target::at(address, "")], false),
            Source::Named(query, port) => {
                let at = if table.srv.is_some() {
                    "srv"
                } else {
                    "address"
                };
                let every = section.resolve_every.0;
                wanted.add(query.clone(), every, format!("{key}.{at}"));
                let found = discovery::answer(&query).unwrap_or_default();
                (
                    found.into_iter().map(|t| with_port(t, port)).collect(),
                    true,
                )
            }
        };
        let lowest = targets.iter().map(|t| t.priority).min().unwrap_or(0);
        for target in targets {
            if !first_with_its_address(&mut listed, &target, (i, named), &key)? {
                continue;
            }
            let one = One {
                index: i,
                table,
                target: &target,
                named,
                lowest,
            };
            servers.push(server(name, section, one, next_id, slots)?);
        }
    }
    Ok(servers)
}

/// Whether `target` is the backend's first server at its address; the
/// entries seen so far are in `listed` (address to entry index, and whether
/// it was named). One server per address, as HAProxy's `prevent-dup-ip`:
/// a second would double the server's share and its metric series (two
/// series with the same labels fail a Prometheus scrape). An address
/// written twice is refused; one a DNS name also resolved to is left out.
fn first_with_its_address(
    listed: &mut HashMap<SocketAddr, (usize, bool)>,
    target: &Target,
    (index, named): (usize, bool),
    key: &str,
) -> Result<bool, PlanError> {
    match listed.get(&target.addr) {
        None => {
            listed.insert(target.addr, (index, named));
            Ok(true)
        }
        Some(&(first, false)) if !named => Err(err(
            key,
            format!(
                "{} is servers[{first}] already; list a server once \
                 (a `weight` gives it a larger share)",
                target.addr
            ),
        )),
        Some(_) => Ok(false),
    }
}

fn source(table: &ServerTable, key: &str) -> Result<Source, PlanError> {
    match (&table.address, &table.srv) {
        (Some(_), Some(_)) => Err(err(key, "has both `address` and `srv`; give one")),
        (None, None) => Err(err(
            key,
            "needs `address` (\"host:port\") or `srv` (an SRV name)",
        )),
        (None, Some(srv)) => Ok(Source::Named(
            Query::Srv(dns_name(srv, &format!("{key}.srv"))?),
            0,
        )),
        (Some(text), None) => address(text, &format!("{key}.address")),
    }
}

/// An IP address (or `localhost`, from the system as before) is fixed;
/// any other `name:port` is looked up in DNS.
fn address(text: &str, key: &str) -> Result<Source, PlanError> {
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port))
            if !host.starts_with('[') && host.parse::<std::net::IpAddr>().is_err() =>
        {
            (host, port)
        }
        _ => {
            return resolve_one(text)
                .map(Source::Fixed)
                .map_err(|m| err(key, m))
        }
    };
    if host.eq_ignore_ascii_case("localhost") {
        return resolve_one(text)
            .map(Source::Fixed)
            .map_err(|m| err(key, m));
    }
    let port = port.parse::<u16>().map_err(|_| {
        err(
            key,
            format!("invalid address {text:?}: expected \"ip:port\" or \"host:port\""),
        )
    })?;
    Ok(Source::Named(Query::Host(dns_name(host, key)?), port))
}

fn dns_name(text: &str, key: &str) -> Result<String, PlanError> {
    let name = text.trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    match name.len() <= 253 && name.split('.').all(label_ok) {
        true => Ok(name),
        false => Err(err(key, format!("{text:?} is not a DNS name"))),
    }
}

/// An A/AAAA answer carries no port: the config's.
fn with_port(mut target: Target, port: u16) -> Target {
    if port != 0 {
        target.addr.set_port(port);
    }
    target
}

/// One server to make: entry `index` of the list, at `target`.
struct One<'a> {
    index: usize,
    table: &'a ServerTable,
    target: &'a Target,
    /// Found through DNS (else written as an address).
    named: bool,
    /// The lowest SRV priority of the entry: higher ones are backups.
    lowest: u16,
}

fn server(
    name: &str,
    section: &BackendSection,
    one: One,
    next_id: &mut usize,
    slots: &mut Slots,
) -> Result<Server, PlanError> {
    let (table, target) = (one.table, one.target);
    let address = target.addr;
    let Names {
        label,
        route,
        tls_host,
    } = names(&one);
    let tls_name = section
        .tls
        .then(|| crate::tls::upstream::server_name(section.tls_server_name.as_deref(), &tls_host))
        .transpose()
        .map_err(|m| err(format!("backend.{name}.tls_server_name"), m))?;
    let next_slot = slots.by_address.len();
    let weight = match table.srv.is_some() {
        // SRV weight 0 means "rarely" (RFC 2782), not "never".
        true => u32::from(target.weight.max(1)),
        false => table.weight,
    };
    let server = Server {
        id: *next_id,
        address,
        hash: fnv1a(
            if one.named {
                address.to_string()
            } else {
                label.clone()
            }
            .as_bytes(),
        ),
        label,
        weight,
        max_connections: table.max_connections,
        route,
        backup: table.backup || target.priority > one.lowest,
        health: *slots.by_address.entry(address).or_insert(next_slot),
        tls_name,
        send_proxy: table.send_proxy,
        discovered: one.named,
    };
    *next_id += 1;
    Ok(server)
}

/// How a server is named in logs and metrics (`label`), in sticky cookies
/// (`route`), and to its TLS certificate check (`tls_host`).
struct Names {
    label: String,
    route: String,
    tls_host: String,
}

fn names(one: &One) -> Names {
    let (table, target) = (one.table, one.target);
    let address = target.addr;
    let written = table.address.clone().unwrap_or_default();
    // A server from DNS is named by host and address in logs; its hash and
    // sticky route follow the address, so they stay put when others come
    // and go.
    let label = match (one.named, table.srv.is_some()) {
        (false, _) => written.clone(),
        (true, false) => format!("{written} ({address})"),
        (true, true) => format!("{}:{} ({address})", target.host, address.port()),
    };
    let base_route = table
        .route
        .clone()
        .unwrap_or_else(|| format!("s{}", one.index + 1));
    let route = match one.named {
        false => base_route,
        true => format!(
            "{base_route}-{:08x}",
            fnv1a(address.to_string().as_bytes()) as u32
        ),
    };
    let tls_host = match table.srv.is_some() {
        true => format!("{}:{}", target.host, address.port()),
        false => written,
    };
    Names {
        label,
        route,
        tls_host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(address: Option<&str>, srv: Option<&str>, route: Option<&str>) -> ServerTable {
        ServerTable {
            address: address.map(str::to_owned),
            srv: srv.map(str::to_owned),
            route: route.map(str::to_owned),
            ..ServerTable::at("")
        }
    }

    fn names_of(table: &ServerTable, address: &str, host: &str, named: bool) -> Names {
        let target = Target::at(address.parse().expect("an address"), host);
        names(&One {
            index: 1,
            table,
            target: &target,
            named,
            lowest: 0,
        })
    }

    #[test]
    fn a_written_address_names_itself_and_its_route_follows_its_place() {
        let named = names_of(
            &table(Some("10.0.0.1:80"), None, None),
            "10.0.0.1:80",
            "",
            false,
        );
        assert_eq!(named.label, "10.0.0.1:80");
        assert_eq!(named.route, "s2");
        assert_eq!(named.tls_host, "10.0.0.1:80");
    }

    #[test]
    fn a_server_found_by_name_is_labelled_with_its_address_and_its_route_follows_it() {
        let app = table(Some("app:8080"), None, Some("web"));
        let named = names_of(&app, "10.0.0.7:8080", "app", true);
        assert_eq!(named.label, "app:8080 (10.0.0.7:8080)");
        let hash = fnv1a(b"10.0.0.7:8080") as u32;
        assert_eq!(named.route, format!("web-{hash:08x}"));
        assert_eq!(named.tls_host, "app:8080");
        let other = names_of(&app, "10.0.0.8:8080", "app", true);
        assert_ne!(other.route, named.route, "each address its own route");
    }

    #[test]
    fn an_srv_server_is_named_by_its_target_host_and_port() {
        let srv = table(None, Some("_http._tcp.app"), None);
        let named = names_of(&srv, "10.0.0.9:9000", "node1.app.", true);
        assert_eq!(named.label, "node1.app:9000 (10.0.0.9:9000)");
        assert_eq!(named.tls_host, "node1.app:9000");
    }
}
