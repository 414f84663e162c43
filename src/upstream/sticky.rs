//! Sticky sessions from a cookie. `mode = "route"`: the application sets the
//! cookie and the part of its value after the last '.' names the server's
//! route (Apache's `stickysession`, `BALANCEID=balancer.node1`).
//! `mode = "insert"`: tern sets `NAME=route` on the first response
//! (HAProxy's `cookie SRV insert`). Either way the server is found from the
//! request alone, so any tern node with the same config agrees.

use httparse::Header;

#[derive(Debug, Clone)]
pub struct Sticky {
    pub cookie: String,
    pub mode: StickyMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StickyMode {
    Route,
    Insert,
}

impl Sticky {
    /// The route named by the request's cookie, if it has one.
    pub fn route_in<'h>(&self, headers: &[Header<'h>]) -> Option<&'h [u8]> {
        let value = cookie_value(headers, self.cookie.as_bytes())?;
        match self.mode {
            StickyMode::Insert => Some(value),
            StickyMode::Route => {
                let dot = memchr::memrchr(b'.', value)?;
                Some(&value[dot + 1..])
            }
        }
    }

    /// The `Set-Cookie` line naming `route`, for insert mode.
    pub fn set_cookie_line(&self, route: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(b"Set-Cookie: ");
        out.extend_from_slice(self.cookie.as_bytes());
        out.push(b'=');
        out.extend_from_slice(route.as_bytes());
        out.extend_from_slice(b"; Path=/; HttpOnly\r\n");
    }
}

/// The value of cookie `name` in the request's `Cookie` fields (the first
/// one, as RFC 6265 §5.4 orders them), quotes removed.
pub fn cookie_value<'h>(headers: &[Header<'h>], name: &[u8]) -> Option<&'h [u8]> {
    headers
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case("cookie"))
        .flat_map(|f| f.value.split(|&b| b == b';'))
        .find_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = memchr::memchr(b'=', pair)?;
            (pair[..eq].trim_ascii() == name).then(|| {
                let value = pair[eq + 1..].trim_ascii();
                value
                    .strip_prefix(b"\"")
                    .and_then(|v| v.strip_suffix(b"\""))
                    .unwrap_or(value)
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie(value: &'static str) -> [Header<'static>; 2] {
        [
            Header {
                name: "Accept",
                value: b"*/*",
            },
            Header {
                name: "Cookie",
                value: value.as_bytes(),
            },
        ]
    }

    fn sticky(mode: StickyMode) -> Sticky {
        Sticky {
            cookie: "BALANCEID".into(),
            mode,
        }
    }

    #[test]
    fn route_mode_takes_the_part_after_the_last_dot() {
        let s = sticky(StickyMode::Route);
        let h = cookie("a=1; BALANCEID=balancer.node2; b=2");
        assert_eq!(s.route_in(&h), Some(&b"node2"[..]));
        let h = cookie("BALANCEID=x.y.node1");
        assert_eq!(s.route_in(&h), Some(&b"node1"[..]));
        let h = cookie("BALANCEID=nodot");
        assert_eq!(s.route_in(&h), None);
        let h = cookie("OTHER=balancer.node1");
        assert_eq!(s.route_in(&h), None);
    }

    #[test]
    fn insert_mode_takes_the_whole_value() {
        let s = sticky(StickyMode::Insert);
        let h = cookie("BALANCEID=\"s2\"");
        assert_eq!(s.route_in(&h), Some(&b"s2"[..]));
        let mut line = Vec::new();
        s.set_cookie_line("s2", &mut line);
        assert_eq!(line, b"Set-Cookie: BALANCEID=s2; Path=/; HttpOnly\r\n");
    }

    #[test]
    fn cookie_names_match_exactly() {
        let h = cookie("XBALANCEID=a.b; BALANCEIDX=c.d");
        assert_eq!(cookie_value(&h, b"BALANCEID"), None);
        let h = cookie(" BALANCEID = v ;x=1");
        assert_eq!(cookie_value(&h, b"BALANCEID"), Some(&b"v"[..]));
    }
}
