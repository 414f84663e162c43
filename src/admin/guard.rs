//! What keeps a web page in someone's browser from using the admin
//! endpoint on their machine: a page can make the browser send requests to
//! 127.0.0.1 (a cross-site form post) or rebind its own name to 127.0.0.1
//! (DNS rebinding). Browsers always send `Host`, and `Origin` on posts, so:
//! - on a loopback-only endpoint, `Host` must be an IP address or
//!   `localhost` (a rebound name is neither);
//! - a post carrying an `Origin` must come from this same host.
//!
//! Clients that send neither (curl, Prometheus) are not affected. A request
//! reaches here with one `Host`, or none only as HTTP/1.0: `http::host`
//! refuses the rest with 400, so the check can't be dodged by sending a
//! local name first and a rebound one second.

use super::http::Request;

pub fn check(req: &Request, loopback_only: bool) -> Result<(), &'static str> {
    if loopback_only {
        if let Some(host) = &req.host {
            if !is_local_host(host) {
                return Err("the Host is not an address of this machine");
            }
        }
    }
    if req.method == "POST" {
        if let Some(origin) = &req.origin {
            let authority = origin.split_once("://").map(|(_, rest)| rest);
            if authority.is_none() || authority != req.host.as_deref() {
                return Err("a post from another origin");
            }
        }
    }
    Ok(())
}

/// `127.0.0.1:9901`, `[::1]:9901`, `localhost:9901` (port optional).
fn is_local_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, host: Option<&str>, origin: Option<&str>) -> Request {
        Request {
            method: method.into(),
            path: "/".into(),
            host: host.map(Into::into),
            origin: origin.map(Into::into),
            content_type: None,
        }
    }

    #[test]
    fn local_hosts_pass() {
        for host in [
            "127.0.0.1:9901",
            "[::1]:9901",
            "localhost:9901",
            "localhost",
        ] {
            assert!(
                check(&request("GET", Some(host), None), true).is_ok(),
                "{host}"
            );
        }
        assert!(check(&request("GET", None, None), true).is_ok(), "curl 1.0");
    }

    #[test]
    fn a_rebound_name_is_refused() {
        assert!(check(&request("GET", Some("evil.example:9901"), None), true).is_err());
        assert!(check(&request("GET", Some("evil.example:9901"), None), false).is_ok());
    }

    #[test]
    fn cross_origin_posts_are_refused() {
        let host = Some("127.0.0.1:9901");
        assert!(check(&request("POST", host, Some("http://127.0.0.1:9901")), true).is_ok());
        assert!(check(&request("POST", host, Some("https://evil.example")), true).is_err());
        assert!(check(&request("POST", host, Some("null")), true).is_err());
        assert!(check(&request("POST", host, None), true).is_ok());
    }
}
