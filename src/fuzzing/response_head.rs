//! A response head from an upstream, parsed as `relay` does and rewritten
//! for the client (with and without a route's edits): the head the client
//! gets must be clean and frame the body the same way.

use super::plan::with_plan;
use crate::config::Plan;
use crate::http::headers::{classify, FieldKind};
use crate::http::response::{self, ResponseHead};
use crate::http::scan::{HeadScanner, Scan};
use crate::http::{BodyKind, Version};
use crate::proxy::relay::{MAX_RESPONSE_FIELDS, MAX_RESPONSE_HEAD};
use crate::proxy::response::edit::ResponseEdit;
use crate::proxy::response::write::{
    chunk_until_close, chunked_to_client, write_client_head, ClientSide,
};
use crate::route::reverse::Public;
use crate::route::Action;

/// The first byte's bits: the request was HEAD, the client speaks HTTP/1.0,
/// the client asked to close, the worker is draining, the route edits
/// responses. The rest is what the upstream sent.
pub fn response_head(data: &[u8]) {
    let Some((&knobs, sent)) = data.split_first() else {
        return;
    };
    let Scan::Complete { head_len } = HeadScanner::default().scan(sent) else {
        return;
    };
    if head_len > MAX_RESPONSE_HEAD {
        return;
    }
    let head = &sent[..head_len];
    let is_head = knobs & 1 != 0;
    let mut fields = crate::http::request::field_slots::<MAX_RESPONSE_FIELDS>();
    let Ok(mut resp) = response::parse(head, &mut fields, is_head) else {
        return;
    };
    chunk_until_close(&mut resp);
    let version = match knobs & 2 {
        0 => Version::Http11,
        _ => Version::Http10,
    };
    // As `relay::client_head` decides it.
    let close_delimited = resp.body == BodyKind::UntilClose
        || (resp.body == BodyKind::Chunked && !chunked_to_client(resp.body, version));
    let client = ClientSide {
        version,
        keep_alive: knobs & 4 == 0 && !close_delimited && knobs & 8 == 0,
    };
    with_plan(|plan| {
        let edit = (knobs & 16 != 0).then(|| edit_of(plan)).flatten();
        let mut out = Vec::new();
        write_client_head(&resp, head, client, (edit.as_ref(), None), &mut out);
        check_client_head(&resp, is_head, client, &out);
    });
}

/// The first proxy route's edits, with reverse rewriting and a sticky cookie.
fn edit_of(plan: &Plan) -> Option<ResponseEdit<'_>> {
    let proxy = plan.routes.iter().find_map(|r| match &r.action {
        Action::Proxy(proxy) if proxy.edits_response() => Some(proxy),
        _ => None,
    })?;
    let sticky = plan.backends.iter().find_map(|b| b.sticky.as_ref());
    Some(ResponseEdit {
        proxy,
        public: Public {
            scheme: "https",
            host: b"example.com:8443",
            rewrite: proxy.rewrite.as_ref(),
        },
        set_cookie: sticky.map(|s| (s, "s1")),
    })
}

fn check_client_head(resp: &ResponseHead, is_head: bool, client: ClientSide, out: &[u8]) {
    let show = || String::from_utf8_lossy(out).into_owned();
    super::assert_one_clean_head(out);
    let mut fields = crate::http::request::field_slots::<{ MAX_RESPONSE_FIELDS + 8 }>();
    let sent = match response::parse(out, &mut fields, is_head) {
        Ok(sent) => sent,
        Err(err) => panic!("client head refused ({err:?}): {}", show()),
    };
    assert_eq!(sent.status, resp.status, "{}", show());
    let framed = match resp.body {
        BodyKind::Chunked if !chunked_to_client(resp.body, client.version) => BodyKind::UntilClose,
        body => body,
    };
    assert_eq!(sent.body, framed, "{}", show());
    let mut connection_fields = 0;
    for field in sent.headers {
        match classify(field.name.as_bytes()) {
            FieldKind::HopByHop => panic!("hop-by-hop {} relayed: {}", field.name, show()),
            FieldKind::Connection => connection_fields += 1,
            _ => {}
        }
    }
    assert!(connection_fields <= 1, "{}", show());
}
