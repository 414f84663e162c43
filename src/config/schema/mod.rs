//! The TOML file as written by a person: serde structures, defaults, and no
//! validation beyond types. `plan.rs` turns this into the runtime form.

mod backend;
mod route;

pub use crate::one_or_many::OneOrMany;
use std::collections::BTreeMap;

use serde::Deserialize;

use super::duration::Dur;
pub use backend::{BackendSection, BalanceName, HealthCheckSection, ServerTable, StickyModeName};
pub use route::{
    ConditionsSection, HeaderEditsSection, HeaderTestSection, RateLimitSection, RedirectSection,
    RespondSection, RouteSection,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default, rename = "listener")]
    pub listeners: Vec<ListenerSection>,
    #[serde(default, rename = "route")]
    pub routes: Vec<RouteSection>,
    #[serde(default, rename = "backend")]
    pub backends: BTreeMap<String, BackendSection>,
    /// The admin endpoint; off unless configured.
    pub admin: Option<super::admin::AdminSection>,
    #[serde(default)]
    pub log: super::log_section::LogSection,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Worker threads, at most `plan::MAX_WORKERS`; `None` means one per
    /// CPU the process may run on.
    pub workers: Option<usize>,
    /// Pin each worker to a CPU; `None`: only when the affinity mask is
    /// narrower than the machine and holds one CPU per worker (`pinning`).
    pub pin_workers: Option<bool>,
    /// Listen backlog of every listening socket.
    pub backlog: u32,
    /// Client connections held at once, per process (divided among the
    /// workers); default: what the open-files limit allows.
    pub max_connections: Option<usize>,
    /// How long in-flight requests may run on after SIGTERM/SIGINT.
    pub shutdown_grace: Dur,
    pub limits: LimitsSection,
    pub timeouts: TimeoutsSection,
    pub pool: PoolSection,
    /// HTTP/2 connections' limits (`config/plan/http2.rs` has the defaults).
    pub http2: Http2Section,
    /// The answer when no route matches; default 404.
    pub no_route: Option<RespondSection>,
    /// Where tern writes its process id (for `tern --reload`).
    pub pid_file: Option<String>,
    /// A Unix socket on which tern hands its listening sockets to a new
    /// binary (`tern --upgrade`).
    pub upgrade_socket: Option<String>,
    /// DNS servers asked for backend names (`"ip:port"` or `"ip"`);
    /// default: the nameservers of /etc/resolv.conf.
    pub resolvers: Option<Vec<String>>,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            workers: None,
            pin_workers: None,
            backlog: 4096,
            max_connections: None,
            shutdown_grace: Dur::secs(10),
            limits: LimitsSection::default(),
            timeouts: TimeoutsSection::default(),
            pool: PoolSection::default(),
            http2: Http2Section::default(),
            no_route: None,
            pid_file: None,
            upgrade_socket: None,
            resolvers: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    pub max_head_bytes: usize,
    pub max_request_line_bytes: usize,
    pub max_headers: usize,
    /// None: no limit.
    pub max_body_bytes: Option<u64>,
}

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            max_head_bytes: 64 * 1024,
            max_request_line_bytes: 8 * 1024,
            max_headers: 100,
            max_body_bytes: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutsSection {
    pub client_header: Dur,
    pub client_idle: Dur,
    pub client: Dur,
    pub connect: Dur,
    pub server: Dur,
    pub tunnel: Dur,
}

impl Default for TimeoutsSection {
    fn default() -> Self {
        TimeoutsSection {
            client_header: Dur::secs(10),
            client_idle: Dur::secs(60),
            client: Dur::secs(60),
            connect: Dur::secs(5),
            server: Dur::secs(60),
            tunnel: Dur::secs(3600),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolSection {
    /// Idle upstream connections kept per server, per worker; absent: as
    /// many as recent demand left, within a share of the open-files limit.
    pub max_idle_per_server: Option<usize>,
    pub idle_timeout: Dur,
}

impl Default for PoolSection {
    fn default() -> Self {
        PoolSection {
            max_idle_per_server: None,
            idle_timeout: Dur::secs(60),
        }
    }
}

/// `[server.http2]`: absent keys take the defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Http2Section {
    pub max_concurrent_streams: Option<u32>,
    pub max_header_list_size: Option<u32>,
    pub stream_window: Option<u32>,
    pub connection_window: Option<u32>,
    pub no_progress_frames_per_second: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerSection {
    pub name: Option<String>,
    pub bind: OneOrMany,
    /// Terminate TLS on this listener.
    pub tls: Option<ListenerTls>,
    /// Connections one client may hold open at once (by address).
    pub max_connections_per_client: Option<u64>,
    /// Bits of an IPv6 client address that make one client (default 64).
    pub ipv6_prefix: Option<u8>,
    /// Read a PROXY protocol header (v1 or v2) before anything else.
    #[serde(default)]
    pub accept_proxy: bool,
    /// Who may send a PROXY header (default: loopback only).
    pub proxy_from: Option<Vec<String>>,
    /// HTTP/2 to clients: by ALPN on TLS listeners (default on), with
    /// prior knowledge (h2c) on plain ones (default off).
    pub http2: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerTls {
    /// The first is the default for clients that send no (or an unknown) SNI name.
    #[serde(default)]
    pub certificates: Vec<CertificateFiles>,
    /// Certificates ordered and renewed by tern (`crate::acme`).
    pub acme: Option<crate::acme::AcmeSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateFiles {
    /// PEM: the certificate, then its chain.
    pub cert: String,
    /// PEM: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: String,
}
