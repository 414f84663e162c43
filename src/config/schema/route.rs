//! `[[route]]` as written: conditions, one action, and what changes on the
//! way. Validation is in `plan/route.rs`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::OneOrMany;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSection {
    pub name: Option<String>,
    // Conditions; the same keys as `ConditionsSection` (serde cannot
    // flatten with `deny_unknown_fields`, so they are listed twice).
    pub host: Option<OneOrMany>,
    pub host_domain: Option<OneOrMany>,
    pub path_prefix: Option<String>,
    pub path_regex: Option<String>,
    pub url_contains: Option<String>,
    pub query: Option<OneOrMany>,
    pub header: Option<Vec<HeaderTestSection>>,
    pub method: Option<OneOrMany>,
    pub source: Option<OneOrMany>,
    pub listener: Option<OneOrMany>,
    pub backend_up: Option<String>,
    /// Conditions that must all fail.
    pub not: Option<ConditionsSection>,
    // Actions: exactly one.
    pub backend: Option<String>,
    pub redirect: Option<RedirectSection>,
    pub respond: Option<RespondSection>,
    #[serde(rename = "static")]
    pub static_files: Option<crate::config::static_files::StaticSection>,
    // Changes on the way (with `backend`).
    pub upstream_prefix: Option<String>,
    pub upstream_path: Option<String>,
    pub upstream_host: Option<String>,
    pub request_headers: Option<HeaderEditsSection>,
    pub response_headers: Option<HeaderEditsSection>,
    pub reverse_rewrite: Option<bool>,
    pub cookie_domain: Option<BTreeMap<String, String>>,
    pub upgrade: Option<Vec<String>>,
    pub abort_on_close: Option<String>,
    /// Requests per client address (any action).
    pub rate_limit: Option<RateLimitSection>,
    /// A request body's bytes at most, in place of `[server.limits]`'s.
    pub max_body_bytes: Option<u64>,
    /// With `backend` or `static`.
    pub compress: Option<crate::config::compress::CompressSetting>,
}

/// `rate_limit = { requests = 100, per = "1s", burst = 50 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSection {
    pub requests: u64,
    pub per: crate::config::Dur,
    #[serde(default)]
    pub burst: u64,
    pub ipv6_prefix: Option<u8>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionsSection {
    pub host: Option<OneOrMany>,
    pub host_domain: Option<OneOrMany>,
    pub path_prefix: Option<String>,
    pub path_regex: Option<String>,
    pub url_contains: Option<String>,
    pub query: Option<OneOrMany>,
    pub header: Option<Vec<HeaderTestSection>>,
    pub method: Option<OneOrMany>,
    pub source: Option<OneOrMany>,
    pub listener: Option<OneOrMany>,
    pub backend_up: Option<String>,
}

impl RouteSection {
    pub fn conditions(&self) -> ConditionsSection {
        ConditionsSection {
            host: self.host.clone(),
            host_domain: self.host_domain.clone(),
            path_prefix: self.path_prefix.clone(),
            path_regex: self.path_regex.clone(),
            url_contains: self.url_contains.clone(),
            query: self.query.clone(),
            header: self.header.clone(),
            method: self.method.clone(),
            source: self.source.clone(),
            listener: self.listener.clone(),
            backend_up: self.backend_up.clone(),
        }
    }
}

/// `{ name = "X-Env" }`, `{ name = "X-Env", equals = "prod" }` or
/// `{ name = "Accept", contains = "html" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderTestSection {
    pub name: String,
    pub equals: Option<String>,
    pub contains: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectSection {
    pub scheme: Option<String>,
    pub host: Option<String>,
    pub path: Option<String>,
    #[serde(default = "default_redirect_status")]
    pub status: u16,
}

fn default_redirect_status() -> u16 {
    302
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RespondSection {
    #[serde(default = "default_respond_status")]
    pub status: u16,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: String,
}

fn default_respond_status() -> u16 {
    200
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderEditsSection {
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    #[serde(default)]
    pub add: BTreeMap<String, String>,
    #[serde(default)]
    pub remove: Vec<String>,
}
