//! `[backend.NAME]` as written: servers, balancing, health, stickiness.
//! Validation is in `plan/backend.rs`.

use std::fmt;

use serde::de::{self, value::MapAccessDeserializer, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::config::duration::Dur;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSection {
    pub servers: Vec<ServerEntry>,
    #[serde(default)]
    pub timeouts: BackendTimeouts,
    #[serde(default)]
    pub balance: BalanceName,
    /// Connect attempts after the first that fails.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Retry on another server (else the same one).
    #[serde(default = "default_true")]
    pub redispatch: bool,
    pub sticky: Option<StickySection>,
    pub health_check: Option<HealthCheckSection>,
    pub passive: Option<PassiveSection>,
    /// Speak TLS to the servers.
    #[serde(default)]
    pub tls: bool,
    /// Trust only this CA file's certificates (else the system's roots).
    pub tls_ca: Option<String>,
    /// The SNI name sent and verified (else each server's host).
    pub tls_server_name: Option<String>,
    /// How often server names are looked up again (a shorter DNS TTL wins,
    /// down to 1 s).
    #[serde(default = "default_resolve_every")]
    pub resolve_every: Dur,
}

fn default_resolve_every() -> Dur {
    Dur::secs(10)
}

fn default_retries() -> u32 {
    3
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BalanceName {
    #[default]
    RoundRobin,
    LeastConn,
    RandomTwo,
    SourceHash,
    UriHash,
}

/// Per-backend overrides of `[server.timeouts]`, and the queue wait.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendTimeouts {
    pub connect: Option<Dur>,
    pub server: Option<Dur>,
    pub tunnel: Option<Dur>,
    /// How long a request waits for a server under `max_connections`.
    pub queue: Option<Dur>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StickySection {
    pub cookie: String,
    #[serde(default)]
    pub mode: StickyModeName,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StickyModeName {
    #[default]
    Route,
    Insert,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckSection {
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default = "default_path")]
    pub path: String,
    pub host: Option<String>,
    /// Healthy statuses; default any 2xx or 3xx.
    #[serde(default)]
    pub status: Vec<u16>,
    #[serde(default = "default_interval")]
    pub interval: Dur,
    #[serde(default = "default_check_timeout")]
    pub timeout: Dur,
    #[serde(default = "default_rise")]
    pub rise: u32,
    #[serde(default = "default_fall")]
    pub fall: u32,
}

fn default_method() -> String {
    "GET".into()
}
fn default_path() -> String {
    "/".into()
}
fn default_interval() -> Dur {
    Dur::secs(2)
}
fn default_check_timeout() -> Dur {
    Dur::secs(1)
}
fn default_rise() -> u32 {
    2
}
fn default_fall() -> u32 {
    3
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassiveSection {
    #[serde(default = "default_fall")]
    pub failures: u32,
    #[serde(default = "default_down_for")]
    pub down_for: Dur,
}

fn default_down_for() -> Dur {
    Dur::secs(10)
}

/// A backend server as written in a table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTable {
    /// `"ip:port"`, or `"name:port"` looked up in DNS (A and AAAA).
    pub address: Option<String>,
    /// A DNS SRV name: servers, ports and weights come from its records.
    pub srv: Option<String>,
    #[serde(default = "default_weight")]
    pub weight: u32,
    pub max_connections: Option<u32>,
    /// Sticky-session name of the server (Apache's `route=`).
    pub route: Option<String>,
    #[serde(default)]
    pub backup: bool,
    /// Send a PROXY protocol header on each new connection (and check).
    pub send_proxy: Option<crate::proxy_protocol::Version>,
}

fn default_weight() -> u32 {
    1
}

impl ServerTable {
    pub(crate) fn at(address: &str) -> ServerTable {
        ServerTable {
            address: Some(address.to_owned()),
            srv: None,
            weight: default_weight(),
            max_connections: None,
            route: None,
            backup: false,
            send_proxy: None,
        }
    }
}

/// A backend server: `"127.0.0.1:9000"` or a [`ServerTable`].
#[derive(Debug)]
pub struct ServerEntry(pub ServerTable);

/// Accepts the short string form as well as the table, keeping serde's own
/// error messages for the table (an untagged enum would hide them).
impl<'de> Deserialize<'de> for ServerEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EntryVisitor;
        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = ServerEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "\"host:port\", { address = \"host:port\" } or { srv = \"_http._tcp.NAME\" }",
                )
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<ServerEntry, E> {
                Ok(ServerEntry(ServerTable::at(text)))
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<ServerEntry, M::Error> {
                ServerTable::deserialize(MapAccessDeserializer::new(map)).map(ServerEntry)
            }
        }
        d.deserialize_any(EntryVisitor)
    }
}
