//! `[[route]]` into a `Route`: conditions, exactly one action, and the
//! proxy's rewrites, each mistake named by its key.

use std::collections::BTreeMap;

use super::conditions::{backend_index, build_conditions, compile, Names};
use super::{err, Backend, PlanError};
use crate::config::schema::{HeaderEditsSection, RedirectSection, RespondSection, RouteSection};
use crate::route::answer::REDIRECT_STATUSES;
use crate::route::{
    AbortOn, Action, HeaderEdits, PathPrefix, PathRewrite, Proxy, Redirect, Respond, Reverse, Route,
};

pub fn build_route(
    index: usize,
    section: &RouteSection,
    names: &Names,
    backends: &[Backend],
) -> Result<Route, PlanError> {
    let at = format!("route[{index}]");
    let all = build_conditions(&at, &section.conditions(), names)?;
    let none = match &section.not {
        Some(not) => build_conditions(&format!("{at}.not"), not, names)?,
        None => Vec::new(),
    };
    let name = section
        .name
        .clone()
        .unwrap_or_else(|| format!("route{index}"));
    // The metrics' `route=""` is the requests no route matched.
    if name.is_empty() {
        return Err(err(
            format!("{at}.name"),
            "is empty; give the route a name, or none",
        ));
    }
    let rate_limit = section
        .rate_limit
        .as_ref()
        .map(|limit| super::limits::rate_limit(&at, &name, limit))
        .transpose()?;
    if section.max_body_bytes == Some(0) {
        return Err(err(
            format!("{at}.max_body_bytes"),
            "must be at least 1 (leave it out for [server.limits]'s)",
        ));
    }
    Ok(Route {
        name,
        all,
        none,
        action: build_action(index, &at, section, names, backends)?,
        rate_limit,
        max_body_bytes: section.max_body_bytes,
    })
}

fn build_action(
    index: usize,
    at: &str,
    section: &RouteSection,
    names: &Names,
    backends: &[Backend],
) -> Result<Action, PlanError> {
    let key = |k: &str| format!("{at}.{k}");
    check_one_action(at, section)?;
    let compress = match &section.compress {
        Some(setting) => crate::config::compress::build(setting, &key("compress"))?,
        None => None,
    };
    let serves = section.backend.is_some() || section.static_files.is_some();
    if section.compress.is_some() && !serves {
        return Err(err(
            key("compress"),
            "only applies to routes with `backend` or `static`",
        ));
    }
    if let Some(name) = &section.backend {
        let backend = backend_index(name, names).map_err(|m| err(key("backend"), m))?;
        let mut proxy = build_proxy(at, section, backend, &backends[backend])?;
        proxy.compress = compress;
        return Ok(Action::Proxy(Box::new(proxy)));
    }
    if let Some(proxy_only) = proxy_only_key(section) {
        return Err(err(
            key(proxy_only),
            "only applies to routes with `backend`",
        ));
    }
    if let Some(files) = &section.static_files {
        return crate::config::static_files::build(index, files, compress).map(Action::Static);
    }
    if let Some(r) = &section.redirect {
        return build_redirect(r, &key("redirect")).map(Action::Redirect);
    }
    let respond = section
        .respond
        .as_ref()
        .map(|r| build_respond(r).map_err(|m| err(key("respond.status"), m)));
    respond
        .unwrap_or_else(|| Err(err(at, "needs an action")))
        .map(Action::Respond)
}

/// Exactly one of `backend`, `redirect`, `respond`, `static`.
fn check_one_action(at: &str, section: &RouteSection) -> Result<(), PlanError> {
    let given = [
        section.backend.is_some(),
        section.redirect.is_some(),
        section.respond.is_some(),
        section.static_files.is_some(),
    ];
    match given.iter().filter(|&&g| g).count() {
        0 => Err(err(
            at,
            "needs an action: `backend`, `redirect`, `respond` or `static`",
        )),
        1 => Ok(()),
        _ => Err(err(
            at,
            "has more than one action; give one of `backend`, `redirect`, `respond`, `static`",
        )),
    }
}

/// `redirect = { ... }`; `at` is its key.
fn build_redirect(r: &RedirectSection, at: &str) -> Result<Redirect, PlanError> {
    if !REDIRECT_STATUSES.contains(&r.status) {
        return Err(err(
            format!("{at}.status"),
            format!("{} is not one of 301, 302, 303, 307, 308", r.status),
        ));
    }
    if r.path.as_ref().is_some_and(|p| !p.starts_with('/')) {
        return Err(err(format!("{at}.path"), "must start with '/'"));
    }
    Ok(Redirect {
        status: r.status,
        scheme: r.scheme.clone(),
        host: r.host.clone(),
        path: r.path.clone(),
    })
}

pub fn build_respond(section: &RespondSection) -> Result<Respond, String> {
    if !(200..=599).contains(&section.status) {
        return Err(format!(
            "{} is not a final HTTP status (200 to 599)",
            section.status
        ));
    }
    let headers: Vec<(String, String)> = section.headers.clone().into_iter().collect();
    Ok(Respond::new(section.status, &headers, &section.body))
}

fn proxy_only_key(section: &RouteSection) -> Option<&'static str> {
    [
        (section.upstream_prefix.is_some(), "upstream_prefix"),
        (section.upstream_path.is_some(), "upstream_path"),
        (section.upstream_host.is_some(), "upstream_host"),
        (section.request_headers.is_some(), "request_headers"),
        (section.response_headers.is_some(), "response_headers"),
        (section.reverse_rewrite.is_some(), "reverse_rewrite"),
        (section.cookie_domain.is_some(), "cookie_domain"),
        (section.upgrade.is_some(), "upgrade"),
        (section.abort_on_close.is_some(), "abort_on_close"),
    ]
    .into_iter()
    .find_map(|(given, key)| given.then_some(key))
}

fn build_proxy(
    at: &str,
    section: &RouteSection,
    backend: usize,
    target: &Backend,
) -> Result<Proxy, PlanError> {
    let key = |k: &str| format!("{at}.{k}");
    let rewrite = build_rewrite(at, section)?;
    let reverse_on =
        section.reverse_rewrite.unwrap_or(rewrite.is_some()) || section.cookie_domain.is_some();
    let reverse = reverse_on.then(|| Reverse {
        authorities: authorities(target, section.upstream_host.as_deref()),
        cookie_domains: cookie_domains(section.cookie_domain.as_ref()),
    });
    if let Some(host) = &section.upstream_host {
        if host.is_empty() || host.bytes().any(|b| b <= b' ' || b == b'/') {
            return Err(err(
                key("upstream_host"),
                format!("{host:?} is not a host name"),
            ));
        }
    }
    Ok(Proxy {
        backend,
        rewrite,
        upstream_host: section.upstream_host.clone(),
        request_edits: edits(section.request_headers.as_ref(), &key("request_headers"))?,
        response_edits: edits(section.response_headers.as_ref(), &key("response_headers"))?,
        reverse,
        upgrades: upgrades(section.upgrade.as_deref(), &key("upgrade"))?,
        abort_on: abort_on(section.abort_on_close.as_deref(), &key("abort_on_close"))?,
        compress: None,
    })
}

/// `upgrade = ["websocket", ...]`: protocol tokens, kept in lower case.
fn upgrades(given: Option<&[String]>, key: &str) -> Result<Box<[Box<str>]>, PlanError> {
    let Some(given) = given else {
        return Ok(Box::new(["websocket".into()]));
    };
    given
        .iter()
        .map(|p| {
            let token = p
                .split('/')
                .all(|part| !part.is_empty() && part.bytes().all(crate::http::is_tchar));
            if token {
                Ok(p.to_ascii_lowercase().into_boxed_str())
            } else {
                Err(err(
                    key,
                    format!("{p:?} is not a protocol name (like \"websocket\")"),
                ))
            }
        })
        .collect()
}

fn abort_on(given: Option<&str>, key: &str) -> Result<AbortOn, PlanError> {
    match given {
        None | Some("full") => Ok(AbortOn::Full),
        Some("half") => Ok(AbortOn::Half),
        Some("never") => Ok(AbortOn::Never),
        Some(other) => Err(err(
            key,
            format!("{other:?} is not one of \"full\", \"half\", \"never\""),
        )),
    }
}

fn build_rewrite(at: &str, section: &RouteSection) -> Result<Option<PathRewrite>, PlanError> {
    let key = |k: &str| format!("{at}.{k}");
    match (&section.upstream_prefix, &section.upstream_path) {
        (Some(_), Some(_)) => Err(err(
            key("upstream_path"),
            "give `upstream_prefix` or `upstream_path`, not both",
        )),
        (Some(upstream), None) => {
            let public = section.path_prefix.as_ref().ok_or_else(|| {
                err(
                    key("upstream_prefix"),
                    "needs `path_prefix` (the prefix it replaces)",
                )
            })?;
            if !(upstream.is_empty() || upstream.starts_with('/')) {
                return Err(err(
                    key("upstream_prefix"),
                    "must be empty or start with '/'",
                ));
            }
            let public = PathPrefix::new(public).map_err(|m| err(key("path_prefix"), m))?;
            Ok(Some(PathRewrite::Prefix {
                public,
                upstream: upstream.clone(),
            }))
        }
        (None, Some(template)) => {
            let pattern = section.path_regex.as_ref().ok_or_else(|| {
                err(
                    key("upstream_path"),
                    "needs `path_regex` (whose captures it uses)",
                )
            })?;
            let regex = compile(pattern).map_err(|m| err(key("path_regex"), m))?;
            Ok(Some(PathRewrite::Regex {
                regex,
                template: template.clone(),
            }))
        }
        (None, None) => Ok(None),
    }
}

/// Every way a response can name the upstream: each server's address as
/// written and as resolved, `localhost` for a loopback server (an
/// application on the same machine names itself so, whatever address the
/// proxy was given), and the Host sent upstream.
fn authorities(backend: &Backend, upstream_host: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    for server in &backend.servers {
        let (ip, port) = (server.address.ip(), server.address.port());
        out.push(server.label.to_ascii_lowercase());
        out.push(server.address.to_string());
        if ip.is_loopback() {
            out.push(format!("localhost:{port}"));
        }
        if port == 80 {
            out.push(ip.to_string());
            if ip.is_loopback() {
                out.push("localhost".to_owned());
            }
        }
    }
    out.extend(upstream_host.map(str::to_ascii_lowercase));
    out.dedup();
    out
}

fn cookie_domains(map: Option<&BTreeMap<String, String>>) -> Vec<(String, String)> {
    map.into_iter()
        .flatten()
        .map(|(from, to)| {
            (
                from.trim_start_matches('.').to_ascii_lowercase(),
                to.clone(),
            )
        })
        .collect()
}

fn edits(
    section: Option<&HeaderEditsSection>,
    key: &str,
) -> Result<Option<HeaderEdits>, PlanError> {
    let Some(section) = section else {
        return Ok(None);
    };
    let pairs = |map: &BTreeMap<String, String>| -> Vec<(String, String)> {
        map.clone().into_iter().collect()
    };
    let reserved = ["host", "content-length", "transfer-encoding", "connection"];
    let names = section
        .set
        .keys()
        .chain(section.add.keys())
        .chain(&section.remove);
    if let Some(name) = names
        .into_iter()
        .find(|n| reserved.contains(&n.to_ascii_lowercase().as_str()))
    {
        return Err(err(
            key,
            format!("{name} is tern's to write (framing and connection handling; use `upstream_host` for Host)"),
        ));
    }
    for (name, value) in section.set.iter().chain(&section.add) {
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            return Err(err(key, format!("{name:?} is not a header name")));
        }
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(err(key, format!("the value of {name} holds a line break")));
        }
    }
    Ok(Some(HeaderEdits::new(
        &pairs(&section.set),
        &pairs(&section.add),
        &section.remove,
    )))
}
