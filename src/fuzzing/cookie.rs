//! Cookies in both directions: the request's `Cookie` field, where sticky
//! sessions find their server, and an upstream's `Set-Cookie`, whose Domain
//! and Path reverse rewriting changes, along with Location and Refresh.

use httparse::Header;

use super::plan::with_plan;
use crate::route::reverse::Public;
use crate::route::Action;
use crate::upstream::sticky::{cookie_value, Sticky, StickyMode};

/// The input is a field value as it arrives (no CR or LF, which the head
/// scan refuses before any of this runs).
pub fn cookie(data: &[u8]) {
    if data.iter().any(|&b| b == b'\r' || b == b'\n') {
        return;
    }
    let headers = [Header {
        name: "Cookie",
        value: data,
    }];
    if let Some(value) = cookie_value(&headers, b"SRV") {
        assert!(is_within(value, data) && !value.contains(&b';'));
    }
    for mode in [StickyMode::Route, StickyMode::Insert] {
        let sticky = Sticky {
            cookie: "SRV".into(),
            mode,
        };
        if let Some(route) = sticky.route_in(&headers) {
            assert!(is_within(route, data));
        }
    }
    with_plan(|plan| {
        for route in &plan.routes {
            let Action::Proxy(proxy) = &route.action else {
                continue;
            };
            let Some(reverse) = &proxy.reverse else {
                continue;
            };
            let public = Public {
                scheme: "https",
                host: b"example.com:8443",
                rewrite: proxy.rewrite.as_ref(),
            };
            if let Some(new) = reverse.set_cookie(data, &public) {
                let parts = |v: &[u8]| v.iter().filter(|&&b| b == b';').count();
                assert_eq!(
                    parts(&new),
                    parts(data),
                    "{}",
                    String::from_utf8_lossy(&new)
                );
                assert!(!new.iter().any(|&b| b == b'\r' || b == b'\n'));
            }
            for new in [reverse.url(data, &public), reverse.refresh(data, &public)]
                .into_iter()
                .flatten()
            {
                assert!(!new.iter().any(|&b| b == b'\r' || b == b'\n'));
            }
        }
    });
}

/// `part` borrows from `whole`.
fn is_within(part: &[u8], whole: &[u8]) -> bool {
    let whole = whole.as_ptr_range();
    let part = part.as_ptr_range();
    whole.start <= part.start && part.end <= whole.end
}
