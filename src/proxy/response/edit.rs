//! What a route changes in the response head it relays: reverse rewriting
//! of fields naming the upstream, header edits, and the sticky cookie; and
//! what of the request it keeps for that (`ResponseNeeds`), only where a
//! route needs it.

use httparse::Header;

use crate::config::{Backend, Plan};
use crate::http::request::RequestHead;
use crate::route::reverse::Public;
use crate::route::{Action, Proxy};
use crate::upstream::pick::Steer;
use crate::upstream::sticky::{Sticky, StickyMode};

pub struct ResponseEdit<'a> {
    pub proxy: &'a Proxy,
    pub public: Public<'a>,
    /// Insert mode: set this cookie naming the server's route.
    pub set_cookie: Option<(&'a Sticky, &'a str)>,
}

/// What happens to one field of the upstream's response.
pub enum FieldEdit {
    Keep,
    Drop,
    Replace(Vec<u8>),
}

impl ResponseEdit<'_> {
    pub fn field(&self, field: &Header) -> FieldEdit {
        let name = field.name;
        if self
            .proxy
            .response_edits
            .as_ref()
            .is_some_and(|e| e.removes(name))
        {
            return FieldEdit::Drop;
        }
        let Some(reverse) = &self.proxy.reverse else {
            return FieldEdit::Keep;
        };
        let is = |lower: &str| name.eq_ignore_ascii_case(lower);
        let replaced = if is("location") || is("content-location") {
            reverse.url(field.value, &self.public)
        } else if is("set-cookie") {
            reverse.set_cookie(field.value, &self.public)
        } else if is("refresh") {
            reverse.refresh(field.value, &self.public)
        } else {
            None
        };
        replaced.map_or(FieldEdit::Keep, FieldEdit::Replace)
    }

    /// Fields added after the upstream's own.
    pub fn append(&self, out: &mut Vec<u8>) {
        if let Some(edits) = &self.proxy.response_edits {
            out.extend_from_slice(edits.added_lines());
        }
        if let Some((sticky, route)) = self.set_cookie {
            sticky.set_cookie_line(route, out);
        }
    }
}

/// Kept from the request for its response, only where a route needs it.
pub struct ResponseNeeds {
    /// Index into `Plan::routes`.
    pub route: usize,
    /// The host the client asked for, port included.
    pub public_host: Vec<u8>,
    pub scheme: &'static str,
}

pub fn response_needs(
    route: usize,
    proxy: &Proxy,
    backend: &Backend,
    req: &RequestHead,
    scheme: &'static str,
) -> Option<Box<ResponseNeeds>> {
    let inserts = backend
        .sticky
        .as_ref()
        .is_some_and(|s| s.mode == StickyMode::Insert);
    (proxy.edits_response() || inserts).then(|| {
        Box::new(ResponseNeeds {
            route,
            public_host: req.host.to_vec(),
            scheme,
        })
    })
}

/// The changes to one response, once the server that answers is known.
pub fn response_edit<'a>(
    plan: &'a Plan,
    needs: &'a ResponseNeeds,
    backend: &'a Backend,
    steer: Steer,
    server_pos: usize,
) -> Option<ResponseEdit<'a>> {
    let Action::Proxy(proxy) = &plan.routes.get(needs.route)?.action else {
        return None;
    };
    // Insert mode names the server unless the request's cookie already did.
    let set_cookie = backend
        .sticky
        .as_ref()
        .filter(|s| {
            s.mode == StickyMode::Insert && steer.sticky.map(usize::from) != Some(server_pos)
        })
        .zip(backend.servers.get(server_pos))
        .map(|(sticky, server)| (sticky, server.route.as_str()));
    Some(ResponseEdit {
        proxy,
        public: Public {
            scheme: needs.scheme,
            host: &needs.public_host,
            rewrite: proxy.rewrite.as_ref(),
        },
        set_cookie,
    })
}
