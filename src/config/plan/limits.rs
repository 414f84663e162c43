//! The client-limit and PROXY protocol keys of listeners and routes.

use std::sync::Arc;

use super::{err, PlanError};
use crate::config::schema::{ListenerSection, RateLimitSection};
use crate::limits::conns::ConnSettings;
use crate::limits::rate::RateSettings;
use crate::limits::{ConnLimit, RateLimit, DEFAULT_IPV6_PREFIX};
use crate::route::cidr::Cidr;

/// Who may send a PROXY header when `proxy_from` is not given.
const LOOPBACK: [&str; 2] = ["127.0.0.0/8", "::1"];

/// `route[i].rate_limit` of the route named `name`.
pub fn rate_limit(
    at: &str,
    name: &str,
    section: &RateLimitSection,
) -> Result<Arc<RateLimit>, PlanError> {
    let key = |k: &str| format!("{at}.rate_limit.{k}");
    if section.requests == 0 {
        return Err(err(key("requests"), "must be at least 1"));
    }
    if section.per.0.is_zero() {
        return Err(err(key("per"), "must be more than 0"));
    }
    let settings = RateSettings {
        requests: section.requests,
        per: section.per.0,
        burst: section.burst,
        ipv6_prefix: ipv6_prefix(section.ipv6_prefix, &key("ipv6_prefix"))?,
    };
    Ok(crate::limits::rate_limit(name, settings))
}

/// `listener[i].max_connections_per_client` (with its `ipv6_prefix`).
pub fn conn_limit(
    at: &str,
    name: &str,
    section: &ListenerSection,
) -> Result<Option<Arc<ConnLimit>>, PlanError> {
    let prefix_key = format!("{at}.ipv6_prefix");
    let prefix = ipv6_prefix(section.ipv6_prefix, &prefix_key)?;
    let Some(max) = section.max_connections_per_client else {
        if section.ipv6_prefix.is_some() {
            return Err(err(prefix_key, "needs max_connections_per_client"));
        }
        return Ok(None);
    };
    if max == 0 {
        return Err(err(
            format!("{at}.max_connections_per_client"),
            "must be at least 1",
        ));
    }
    let settings = ConnSettings {
        max,
        ipv6_prefix: prefix,
    };
    Ok(Some(crate::limits::conn_limit(name, settings)))
}

/// `listener[i].accept_proxy` and `proxy_from`: the ranges that may send a
/// PROXY header, or `None` when the listener takes none.
pub fn accept_proxy(at: &str, section: &ListenerSection) -> Result<Option<Box<[Cidr]>>, PlanError> {
    let key = format!("{at}.proxy_from");
    if !section.accept_proxy {
        return match section.proxy_from {
            Some(_) => Err(err(key, "needs accept_proxy = true")),
            None => Ok(None),
        };
    }
    let given: Vec<&str> = match &section.proxy_from {
        Some(list) => list.iter().map(String::as_str).collect(),
        None => LOOPBACK.to_vec(),
    };
    if given.is_empty() {
        return Err(err(key, "is empty, so nobody could send the PROXY header"));
    }
    let ranges = given
        .iter()
        .enumerate()
        .map(|(i, text)| Cidr::parse(text).map_err(|m| err(format!("{key}[{i}]"), m)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(ranges.into()))
}

fn ipv6_prefix(given: Option<u8>, key: &str) -> Result<u8, PlanError> {
    match given {
        None => Ok(DEFAULT_IPV6_PREFIX),
        Some(bits) if bits <= 128 => Ok(bits),
        Some(_) => Err(err(key, "must be between 0 and 128")),
    }
}
