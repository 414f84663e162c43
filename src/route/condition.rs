//! Route conditions, each a test on the request (HAProxy's ACLs). A route's
//! conditions are combined with AND; a list of values in one condition
//! (hosts, methods, ranges, listeners) means any of them.

use std::net::IpAddr;

use httparse::Header;
use memchr::memmem;
use regex::bytes::Regex;

use super::cidr::Cidr;
use super::host::{host_name, HostPattern};
use super::path::PathPrefix;
use crate::http::request::RequestHead;

/// What routing looks at, borrowed from the parsed request head.
pub struct RouteInput<'a> {
    pub method: &'a str,
    /// The origin-form target: path and query.
    pub target: &'a [u8],
    /// The path of the target, without the query.
    pub path: &'a [u8],
    /// Host field or absolute-form authority, port included; may be empty.
    pub host: &'a [u8],
    pub headers: &'a [Header<'a>],
    pub client_ip: IpAddr,
    /// Index of the listener the connection arrived on.
    pub listener: usize,
}

impl<'a> RouteInput<'a> {
    /// What routing looks at in a parsed request that arrived from
    /// `client_ip` on listener `listener`.
    pub fn of(req: &'a RequestHead<'a, 'a>, client_ip: IpAddr, listener: usize) -> Self {
        RouteInput {
            method: req.method,
            target: req.origin_target,
            path: req.path(),
            host: req.host,
            headers: req.headers,
            client_ip,
            listener,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Condition {
    Host(Vec<HostPattern>),
    PathPrefix(PathPrefix),
    PathRegex(Regex),
    /// A substring of the whole target, query included (HAProxy `url_sub`).
    UrlContains(Vec<u8>),
    Query(QueryTest),
    Header(HeaderTest),
    Method(Vec<String>),
    Source(Vec<Cidr>),
    /// Indexes into `Plan::listeners`.
    Listener(Vec<usize>),
    /// Holds while this backend (index) has a live server.
    BackendUp(usize),
}

/// `name` present, or `name=value` present with exactly that raw value.
#[derive(Debug, Clone)]
pub struct QueryTest {
    pub name: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct HeaderTest {
    pub name: String,
    pub check: ValueCheck,
}

#[derive(Debug, Clone)]
pub enum ValueCheck {
    Present,
    Equals(Vec<u8>),
    Contains(Vec<u8>),
}

impl Condition {
    /// `backend_live` says whether a backend has a live server.
    pub fn holds(&self, input: &RouteInput, backend_live: &dyn Fn(usize) -> bool) -> bool {
        match self {
            Condition::Host(patterns) => {
                let host = host_name(input.host);
                patterns.iter().any(|p| p.matches(host))
            }
            Condition::PathPrefix(prefix) => prefix.matches(input.path),
            Condition::PathRegex(regex) => regex.is_match(input.path),
            Condition::UrlContains(needle) => memmem::find(input.target, needle).is_some(),
            Condition::Query(test) => test.holds(query_of(input.target)),
            Condition::Header(test) => test.holds(input.headers),
            Condition::Method(methods) => methods.iter().any(|m| m == input.method),
            Condition::Source(ranges) => ranges.iter().any(|r| r.contains(input.client_ip)),
            Condition::Listener(listeners) => listeners.contains(&input.listener),
            Condition::BackendUp(backend) => backend_live(*backend),
        }
    }
}

/// The query of a target, without the '?'; empty when there is none.
pub fn query_of(target: &[u8]) -> &[u8] {
    memchr::memchr(b'?', target).map_or(&[], |q| &target[q + 1..])
}

impl QueryTest {
    /// `name` or `name=value`.
    pub fn parse(text: &str) -> QueryTest {
        match text.split_once('=') {
            Some((name, value)) => QueryTest {
                name: name.as_bytes().to_vec(),
                value: Some(value.as_bytes().to_vec()),
            },
            None => QueryTest {
                name: text.as_bytes().to_vec(),
                value: None,
            },
        }
    }

    fn holds(&self, query: &[u8]) -> bool {
        query.split(|&b| b == b'&').any(|pair| {
            let (name, value) = match memchr::memchr(b'=', pair) {
                Some(eq) => (&pair[..eq], Some(&pair[eq + 1..])),
                None => (pair, None),
            };
            name == self.name.as_slice()
                && self
                    .value
                    .as_deref()
                    .is_none_or(|want| value.unwrap_or_default() == want)
        })
    }
}

impl HeaderTest {
    /// Any field of that name (case-insensitive) passes the value check
    /// (values compared exactly, case-sensitive).
    fn holds(&self, headers: &[Header]) -> bool {
        headers
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(&self.name))
            .any(|f| match &self.check {
                ValueCheck::Present => true,
                ValueCheck::Equals(want) => f.value == want.as_slice(),
                ValueCheck::Contains(part) => memmem::find(f.value, part).is_some(),
            })
    }
}

#[cfg(test)]
mod tests;
