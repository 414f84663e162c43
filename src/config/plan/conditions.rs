//! A route's conditions (or its `not` table) into matchers.

use regex::bytes::Regex;

use super::{err, PlanError};
use crate::config::schema::{ConditionsSection, HeaderTestSection, OneOrMany};
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
    let mut hosts = parse_each(&key("host"), list(&section.host), HostPattern::name)?;
    let domains = list(&section.host_domain);
    hosts.extend(parse_each(
        &key("host_domain"),
        domains,
        HostPattern::domain,
    )?);
    if !hosts.is_empty() {
        out.push(Condition::Host(hosts));
    }
    if let Some(prefix) = &section.path_prefix {
        let prefix = PathPrefix::new(prefix).map_err(|m| err(key("path_prefix"), m))?;
        out.push(Condition::PathPrefix(prefix));
    }
    if let Some(pattern) = &section.path_regex {
        let regex = compile(pattern).map_err(|m| err(key("path_regex"), m))?;
        out.push(Condition::PathRegex(regex));
    }
    if let Some(part) = &section.url_contains {
        if part.is_empty() {
            return Err(err(key("url_contains"), "is empty"));
        }
        out.push(Condition::UrlContains(part.as_bytes().to_vec()));
    }
    for text in list(&section.query) {
        out.push(Condition::Query(QueryTest::parse(&text)));
    }
    for (i, test) in section.header.iter().flatten().enumerate() {
        let test = header_test(test).map_err(|m| err(key(&format!("header[{i}]")), m))?;
        out.push(Condition::Header(test));
    }
    if let Some(methods) = &section.method {
        out.push(Condition::Method(methods.to_vec()));
    }
    if let Some(sources) = &section.source {
        let ranges = parse_each(&key("source"), sources.to_vec(), Cidr::parse)?;
        out.push(Condition::Source(ranges));
    }
    if let Some(listeners) = &section.listener {
        let find = |name: &str| listener_index(name, names);
        let indexes = parse_each(&key("listener"), listeners.to_vec(), find)?;
        out.push(Condition::Listener(indexes));
    }
    if let Some(name) = &section.backend_up {
        let index = backend_index(name, names).map_err(|m| err(key("backend_up"), m))?;
        out.push(Condition::BackendUp(index));
    }
    Ok(out)
}

/// The strings of a one-or-many key (none when it is absent).
fn list(value: &Option<OneOrMany>) -> Vec<String> {
    value.iter().flat_map(|v| v.to_vec()).collect()
}

/// Each item parsed; an error names the item as `key[i]`.
fn parse_each<T>(
    key: &str,
    items: Vec<String>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, PlanError> {
    let one = |(i, text): (usize, String)| parse(&text).map_err(|m| err(format!("{key}[{i}]"), m));
    items.into_iter().enumerate().map(one).collect()
}

fn header_test(test: &HeaderTestSection) -> Result<HeaderTest, &'static str> {
    let check = match (&test.equals, &test.contains) {
        (Some(_), Some(_)) => return Err("give `equals` or `contains`, not both"),
        (Some(value), None) => ValueCheck::Equals(value.as_bytes().to_vec()),
        (None, Some(part)) => ValueCheck::Contains(part.as_bytes().to_vec()),
        (None, None) => ValueCheck::Present,
    };
    Ok(HeaderTest {
        name: test.name.clone(),
        check,
    })
}

fn listener_index(name: &str, names: &Names) -> Result<usize, String> {
    let position = names.listeners.iter().position(|l| l == name);
    position.ok_or_else(|| format!("no listener named {name:?}"))
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
