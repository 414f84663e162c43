//! One DNS lookup, blocking, on the discovery thread: a query over UDP to
//! each resolver in turn, again over TCP when the answer was truncated.
//! `simple-dns` builds and parses the messages; nothing here runs on a
//! worker, so plain blocking sockets with a timeout are the simplest
//! correct thing (no second async runtime in the process).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use simple_dns::rdata::RData;
use simple_dns::{Name, Packet, PacketFlag, Question, CLASS, QCLASS, QTYPE, RCODE, TYPE};

use super::{Query, Target};

/// The largest UDP answer read (EDNS is not used: 512 bytes are asked for,
/// longer answers come truncated and are asked again over TCP).
const UDP_MAX: usize = 4096;
/// Datagrams read while waiting for the one with our id.
const STRAY_LIMIT: usize = 8;

/// What a lookup found, with the smallest TTL among the records used.
#[derive(Debug)]
pub struct Found {
    pub targets: Vec<Target>,
    pub ttl: u32,
}

/// How long an answer from /etc/hosts holds (it is read again then).
const HOSTS_TTL: u32 = 10;

/// Looks `query` up (a name in /etc/hosts first); an answer without any
/// address is an error (the last good set is kept rather than emptying the
/// backend on a hiccup).
pub fn lookup(query: &Query, resolvers: &[SocketAddr], timeout: Duration) -> Result<Found, String> {
    if let Query::Host(name) = query {
        let targets = super::hosts::lookup(name);
        if !targets.is_empty() {
            return Ok(Found {
                targets,
                ttl: HOSTS_TTL,
            });
        }
    }
    let found = match query {
        Query::Host(name) => addresses(name, 0, resolvers, timeout)?,
        Query::Srv(name) => services(name, resolvers, timeout)?,
    };
    if found.targets.is_empty() {
        return Err(format!("{query}: the answer holds no address"));
    }
    Ok(found)
}

/// A and AAAA records of `name`, with `port` on each. Both questions must
/// be answered: one that failed (a timeout, SERVFAIL) fails the lookup,
/// as the half that came would replace the whole set (the backend's IPv4
/// servers gone on a SERVFAIL for A). "No such name" for both is a failure
/// too; for one alone, the name just has no address of that kind.
fn addresses(
    name: &str,
    port: u16,
    resolvers: &[SocketAddr],
    timeout: Duration,
) -> Result<Found, String> {
    let mut found = Found {
        targets: Vec::new(),
        ttl: u32::MAX,
    };
    let mut named = false;
    for kind in [TYPE::A, TYPE::AAAA] {
        let Some(answer) = exchange(name, kind, resolvers, timeout)? else {
            continue;
        };
        named = true;
        let packet = Packet::parse(&answer).map_err(|e| format!("{name}: {e}"))?;
        for record in &packet.answers {
            if let Some(ip) = address_of(&record.rdata) {
                found
                    .targets
                    .push(Target::at(SocketAddr::new(ip, port), name));
                found.ttl = found.ttl.min(record.ttl);
            }
        }
    }
    if !named {
        return Err(no_such_name(name));
    }
    Ok(found)
}

fn no_such_name(name: &str) -> String {
    format!("{name}: no such name")
}

fn address_of(rdata: &RData) -> Option<std::net::IpAddr> {
    match rdata {
        RData::A(a) => Some(Ipv4Addr::from(a.address).into()),
        RData::AAAA(aaaa) => Some(Ipv6Addr::from(aaaa.address).into()),
        _ => None,
    }
}

/// SRV records of `name`; each target's addresses from the additional
/// section when the server sent them, else looked up.
/// SRV records of `name` and their targets' addresses (from the answer's
/// glue, else looked up). A target whose addresses can't be had is left
/// out, with a debug line, and the others are used: one stale record must
/// not freeze the service's set (HAProxy and nginx skip it too).
fn services(name: &str, resolvers: &[SocketAddr], timeout: Duration) -> Result<Found, String> {
    let answer =
        exchange(name, TYPE::SRV, resolvers, timeout)?.ok_or_else(|| no_such_name(name))?;
    let packet = Packet::parse(&answer).map_err(|e| format!("{name}: {e}"))?;
    let mut found = Found {
        targets: Vec::new(),
        ttl: u32::MAX,
    };
    for record in &packet.answers {
        let RData::SRV(srv) = &record.rdata else {
            continue;
        };
        found.ttl = found.ttl.min(record.ttl);
        let host = srv.target.to_string();
        let glued: Vec<_> = packet
            .additional_records
            .iter()
            .filter(|extra| extra.name.to_string().eq_ignore_ascii_case(&host))
            .filter_map(|extra| Some((address_of(&extra.rdata)?, extra.ttl)))
            .collect();
        let ips = match glued.is_empty() {
            false => glued,
            true => match addresses(&host, srv.port, resolvers, timeout) {
                Ok(found) => found
                    .targets
                    .into_iter()
                    .map(|t| (t.addr.ip(), u32::MAX))
                    .collect(),
                Err(why) => {
                    crate::log::debug(format_args!("DNS: {name}: target left out: {why}"));
                    Vec::new()
                }
            },
        };
        for (ip, ttl) in ips {
            found.ttl = found.ttl.min(ttl);
            found.targets.push(Target {
                addr: SocketAddr::new(ip, srv.port),
                weight: srv.weight,
                priority: srv.priority,
                host: host.clone(),
            });
        }
    }
    Ok(found)
}

/// Asks each resolver in turn; the first real answer (found or "no such
/// name") wins. Returns the answer's bytes; `None` for "no such name".
fn exchange(
    name: &str,
    kind: TYPE,
    resolvers: &[SocketAddr],
    timeout: Duration,
) -> Result<Option<Vec<u8>>, String> {
    static NEXT_ID: AtomicU16 = AtomicU16::new(0x5eed);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed) ^ (std::process::id() as u16);
    let query = build(name, kind, id)?;
    let mut why = format!("{name}: no resolver configured");
    for &resolver in resolvers {
        let answer =
            ask_udp(&query, id, resolver, timeout).and_then(|answer| match truncated(&answer) {
                true => ask_tcp(&query, resolver, timeout),
                false => Ok(answer),
            });
        match answer.map(|answer| (rcode(&answer), answer)) {
            Ok((Some(RCODE::NoError), answer)) => return Ok(Some(answer)),
            Ok((Some(RCODE::NameError), _)) => return Ok(None),
            Ok((code, _)) => why = format!("{name}: {resolver} answered {code:?}"),
            Err(err) => why = format!("{name}: {resolver}: {err}"),
        }
    }
    Err(why)
}

fn build(name: &str, kind: TYPE, id: u16) -> Result<Vec<u8>, String> {
    let qname = Name::new(name).map_err(|e| format!("{name:?} is not a DNS name: {e}"))?;
    let mut packet = Packet::new_query(id);
    packet.set_flags(PacketFlag::RECURSION_DESIRED);
    packet.questions.push(Question::new(
        qname,
        QTYPE::TYPE(kind),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    packet
        .build_bytes_vec()
        .map_err(|e| format!("{name}: cannot build the query: {e}"))
}

fn rcode(answer: &[u8]) -> Option<RCODE> {
    Packet::parse(answer).ok().map(|p| p.rcode())
}

fn truncated(answer: &[u8]) -> bool {
    Packet::parse(answer).is_ok_and(|p| p.has_flags(PacketFlag::TRUNCATION))
}

fn ask_udp(
    query: &[u8],
    id: u16,
    resolver: SocketAddr,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let local: SocketAddr = match resolver {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).map_err(|e| e.to_string())?;
    socket.connect(resolver).map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    socket.send(query).map_err(|e| e.to_string())?;
    let mut buf = vec![0; UDP_MAX];
    for _ in 0..STRAY_LIMIT {
        let len = socket.recv(&mut buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                format!("no answer within {timeout:?}")
            }
            _ => e.to_string(),
        })?;
        // A late answer to an earlier query on a reused port is skipped.
        if len >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
            buf.truncate(len);
            return Ok(buf);
        }
    }
    Err("no answer with the query's id".into())
}

fn ask_tcp(query: &[u8], resolver: SocketAddr, timeout: Duration) -> Result<Vec<u8>, String> {
    let mut stream = TcpStream::connect_timeout(&resolver, timeout).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let len = u16::try_from(query.len()).map_err(|_| "query too long".to_owned())?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    stream.write_all(&framed).map_err(|e| e.to_string())?;
    let mut len = [0; 2];
    stream.read_exact(&mut len).map_err(|e| e.to_string())?;
    let mut answer = vec![0; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut answer).map_err(|e| e.to_string())?;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use simple_dns::rdata::{A, AAAA, SRV};
    use simple_dns::ResourceRecord;

    /// A resolver on loopback answering `answer(question's name, type)`:
    /// `None` is SERVFAIL; `Some(records)` a NoError answer holding them.
    fn resolver(
        answer: fn(&str, TYPE) -> Option<Vec<RData<'static>>>,
    ) -> (SocketAddr, std::thread::JoinHandle<()>) {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let addr = socket.local_addr().expect("addr");
        let serving = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                let Ok(query) = Packet::parse(&buf[..n]) else {
                    return;
                };
                let Some(question) = query.questions.first() else {
                    return;
                };
                let name = question.qname.to_string();
                let QTYPE::TYPE(kind) = question.qtype else {
                    return;
                };
                let mut reply = Packet::new_reply(query.id());
                reply.questions.push(question.clone());
                match answer(&name, kind) {
                    None => *reply.rcode_mut() = RCODE::ServerFailure,
                    Some(records) => {
                        for rdata in records {
                            let qname = Name::new_unchecked(&name).into_owned();
                            reply
                                .answers
                                .push(ResourceRecord::new(qname, CLASS::IN, 60, rdata));
                        }
                    }
                }
                let bytes = reply.build_bytes_vec().expect("reply");
                let _ = socket.send_to(&bytes, from);
            }
        });
        (addr, serving)
    }

    #[test]
    fn a_failed_a_question_fails_the_lookup_though_aaaa_answered() {
        let (addr, _serving) = resolver(|_, kind| match kind {
            TYPE::A => None,
            _ => Some(vec![RData::AAAA(AAAA { address: 1 })]),
        });
        let query = Query::Host("app.test".into());
        let found = lookup(&query, &[addr], Duration::from_secs(2));
        assert!(found.is_err(), "a half answer replaced the set: {found:?}");
    }

    #[test]
    fn an_srv_target_without_addresses_is_left_out_and_the_others_used() {
        let (addr, _serving) = resolver(|name, kind| match (name, kind) {
            ("_http._tcp.svc.test", TYPE::SRV) => Some(
                ["good.svc.test", "gone.svc.test"]
                    .map(|target| {
                        RData::SRV(SRV {
                            priority: 0,
                            weight: 1,
                            port: 8080,
                            target: Name::new_unchecked(target).into_owned(),
                        })
                    })
                    .to_vec(),
            ),
            ("good.svc.test", TYPE::A) => Some(vec![RData::A(A {
                address: 0x7f00_0001,
            })]),
            ("good.svc.test", _) => Some(Vec::new()),
            _ => None,
        });
        let query = Query::Srv("_http._tcp.svc.test".into());
        let found = lookup(&query, &[addr], Duration::from_secs(2)).expect("found");
        let addrs: Vec<String> = found.targets.iter().map(|t| t.addr.to_string()).collect();
        assert_eq!(addrs, ["127.0.0.1:8080"]);
    }
}
