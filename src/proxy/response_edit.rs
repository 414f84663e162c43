//! What a route changes in the response head it relays: reverse rewriting
//! of fields naming the upstream, header edits, and the sticky cookie.

use httparse::Header;

use crate::route::reverse::Public;
use crate::route::Proxy;
use crate::upstream::sticky::Sticky;

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
