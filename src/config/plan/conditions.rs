//! A route's conditions (or its `not` table) into matchers.

use regex::bytes::Regex;

use super::{err, PlanError};
use crate::config::schema::ConditionsSection;
use crate::route::cidr::Cidr;
use crate::route::condition::{HeaderTest, QueryTest, ValueCheck};
use crate::route::host::HostPattern;
use crate::route::{Condition, PathPrefix};

/// Names the plan resolves conditions against.
pub struct Names<'a> {
    pub backends: &'a [String],
    pub listeners: &'a [String],
}

/// `prefix` is the key path of the table, e.g. `route[2]` or `route[2].not`.
pub fn build_conditions(
    prefix: &str,
    section: &ConditionsSection,
    names: &Names,
) -> Result<Vec<Condition>, PlanError> {
    let key = |k: &str| format!("{prefix}.{k}");
    let mut out = Vec::new();
    let mut hosts = Vec::new();
    for (i, text) in section.host.iter().flat_map(|h| h.to_vec()).enumerate() {
        hosts.push(HostPattern::name(&text).map_err(|m| err(key(&format!("host[{i}]")), m))?);
    }
    for (i, text) in section
        .host_domain
        .iter()
        .flat_map(|h| h.to_vec())
        .enumerate()
    {
        hosts.push(
            HostPattern::domain(&text).map_err(|m| err(key(&format!("host_domain[{i}]")), m))?,
        );
    }
    if !hosts.is_empty() {
        out.push(Condition::Host(hosts));
    }
    if let Some(prefix) = &section.path_prefix {
        out.push(Condition::PathPrefix(
            PathPrefix::new(prefix).map_err(|m| err(key("path_prefix"), m))?,
        ));
    }
    if let Some(pattern) = &section.path_regex {
        out.push(Condition::PathRegex(
            compile(pattern).map_err(|m| err(key("path_regex"), m))?,
        ));
    }
    if let Some(part) = &section.url_contains {
        if part.is_empty() {
            return Err(err(key("url_contains"), "is empty"));
        }
        out.push(Condition::UrlContains(part.as_bytes().to_vec()));
    }
    for text in section.query.iter().flat_map(|q| q.to_vec()) {
        out.push(Condition::Query(QueryTest::parse(&text)));
    }
    for (i, test) in section.header.iter().flatten().enumerate() {
        let check = match (&test.equals, &test.contains) {
            (Some(_), Some(_)) => {
                return Err(err(
                    key(&format!("header[{i}]")),
                    "give `equals` or `contains`, not both",
                ))
            }
            (Some(value), None) => ValueCheck::Equals(value.as_bytes().to_vec()),
            (None, Some(part)) => ValueCheck::Contains(part.as_bytes().to_vec()),
            (None, None) => ValueCheck::Present,
        };
        out.push(Condition::Header(HeaderTest {
            name: test.name.clone(),
            check,
        }));
    }
    if let Some(methods) = &section.method {
        out.push(Condition::Method(methods.to_vec()));
    }
    if let Some(sources) = &section.source {
        let mut ranges = Vec::new();
        for (i, text) in sources.to_vec().iter().enumerate() {
            ranges.push(Cidr::parse(text).map_err(|m| err(key(&format!("source[{i}]")), m))?);
        }
        out.push(Condition::Source(ranges));
    }
    if let Some(listeners) = &section.listener {
        let mut indexes = Vec::new();
        for (i, name) in listeners.to_vec().iter().enumerate() {
            let index = names
                .listeners
                .iter()
                .position(|l| l == name)
                .ok_or_else(|| {
                    err(
                        key(&format!("listener[{i}]")),
                        format!("no listener named {name:?}"),
                    )
                })?;
            indexes.push(index);
        }
        out.push(Condition::Listener(indexes));
    }
    if let Some(name) = &section.backend_up {
        out.push(Condition::BackendUp(
            backend_index(name, names).map_err(|m| err(key("backend_up"), m))?,
        ));
    }
    Ok(out)
}

pub fn backend_index(name: &str, names: &Names) -> Result<usize, String> {
    names
        .backends
        .iter()
        .position(|b| b == name)
        .ok_or_else(|| format!("no backend named {name:?} (add a [backend.{name}] table)"))
}

/// Compiles a path regex; the error is put on one line (the regex crate
/// draws a multi-line diagram).
pub fn compile(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| {
        let text = e.to_string();
        let reason = text
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .trim_start_matches("error: ");
        format!("regex {pattern:?} does not compile: {reason}")
    })
}
