//! The head sent back to the client: the upstream's status and fields minus
//! hop-by-hop ones, with framing and connection handling re-derived for the
//! client's side of the exchange.

use crate::compress::head::Change;
use crate::http::headers::{classify, push_decimal, FieldKind};
use crate::http::response::ResponseHead;
use crate::http::{BodyKind, Version};

use httparse::Header;

use super::edit::{FieldEdit, ResponseEdit};
use crate::conn::downstream::HeadFields;
use crate::proxy::rewrite_request::{ConnectionNamed, LineRuns};

/// How the client side of the exchange ends.
#[derive(Debug, Clone, Copy)]
pub struct ClientSide {
    pub version: Version,
    /// The client connection stays open after this response.
    pub keep_alive: bool,
}

/// The client's head for one upstream response: the parsed head, the
/// bytes it was parsed from, the client's side, and the changes to make
/// (the route's, compression's). It is told to the client's side of the
/// exchange as `HeadFields`: an HTTP/1.1 client gets it written
/// (`write_http1`), an HTTP/2 stream builds HEADERS from its fields (`each`).
pub struct ClientHead<'a, 'b> {
    pub resp: &'a ResponseHead<'b, 'a>,
    pub head: &'b [u8],
    pub client: ClientSide,
    pub edit: Option<&'a ResponseEdit<'a>>,
    pub compress: Option<Change>,
}

impl<'b> ClientHead<'_, 'b> {
    /// What becomes of one of the upstream's fields.
    fn decide(&self, field: &Header<'b>, named: &ConnectionNamed) -> FieldEdit {
        let resp = self.resp;
        let keep = match classify(field.name.as_bytes()) {
            FieldKind::Connection | FieldKind::HopByHop => false,
            FieldKind::Upgrade => resp.status == 101,
            // Framing fields are re-derived by the writer, except where the
            // response has no body: then they describe the representation
            // (HEAD, 304) — never on a 1xx or a 204, which have none to
            // describe (RFC 9110 §8.6, RFC 9112 §6.1: an HTTP/2 client
            // refuses such a response), and Transfer-Encoding only to an
            // HTTP/1.1 client.
            FieldKind::ContentLength => self.describes_representation(),
            FieldKind::TransferEncoding => {
                self.client.version == Version::Http11
                    && match resp.body {
                        BodyKind::None => self.describes_representation(),
                        _ => resp.keep_transfer_encoding,
                    }
            }
            _ => !named.names(field.name),
        };
        if !keep {
            return FieldEdit::Drop;
        }
        let edited = self.edit.map_or(FieldEdit::Keep, |edit| edit.field(field));
        // The route's edits first: an ETag it removes stays removed.
        match (edited, self.compress) {
            (FieldEdit::Keep, Some(change)) if field.name.eq_ignore_ascii_case("etag") => change
                .etag(field.value)
                .map_or(FieldEdit::Keep, FieldEdit::Replace),
            // A range of the compressed body can't be had (a Range request
            // is never compressed): a client resuming with `bytes=N-` would
            // glue plain bytes to a gzip prefix. As for a static file.
            (FieldEdit::Keep, Some(change))
                if change.coding.is_some() && field.name.eq_ignore_ascii_case("accept-ranges") =>
            {
                FieldEdit::Drop
            }
            (edited, _) => edited,
        }
    }

    /// A response without a body whose framing fields may still say what
    /// the body would have been: a HEAD's, a 304's; not a 1xx's or a 204's.
    fn describes_representation(&self) -> bool {
        let resp = self.resp;
        resp.body == BodyKind::None && !matches!(resp.status, 100..=199 | 204)
    }

    /// The fields tern adds after the upstream's own, as header lines.
    fn added_lines(&self, out: &mut Vec<u8>) {
        if let Some(edit) = self.edit.filter(|_| !self.resp.is_interim()) {
            edit.append(out);
        }
        if let Some(change) = self.compress {
            change.append(out);
        }
    }
}

impl HeadFields for ClientHead<'_, '_> {
    /// The head as HTTP/1.1, runs of kept lines copied as they are.
    fn write_http1(&self, out: &mut Vec<u8>) {
        let resp = self.resp;
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(resp.status_text);
        out.extend_from_slice(b"\r\n");
        let named = ConnectionNamed::of(resp.headers, resp.has_connection_field);
        let mut runs = LineRuns::new(self.head);
        for field in resp.headers {
            match self.decide(field, &named) {
                FieldEdit::Keep => runs.keep(field, out),
                FieldEdit::Replace(value) => {
                    runs.skip(out);
                    crate::http::headers::push_field(out, field.name.as_bytes(), &value);
                }
                FieldEdit::Drop => runs.skip(out),
            }
        }
        runs.skip(out);
        self.added_lines(out);
        write_framing(resp, self.client, out);
        write_connection(resp, self.client, out);
        out.extend_from_slice(b"\r\n");
    }

    fn each(&self, field: &mut dyn FnMut(&[u8], &[u8])) {
        let named = ConnectionNamed::of(self.resp.headers, self.resp.has_connection_field);
        for upstream in self.resp.headers {
            match self.decide(upstream, &named) {
                FieldEdit::Keep => field(upstream.name.as_bytes(), upstream.value),
                FieldEdit::Replace(value) => field(upstream.name.as_bytes(), &value),
                FieldEdit::Drop => {}
            }
        }
        let mut added = Vec::new();
        self.added_lines(&mut added);
        for line in added.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(colon) = memchr::memchr(b':', line) {
                field(&line[..colon], line[colon + 1..].trim_ascii());
            }
        }
    }
}

/// Appends the client-facing head for `resp` (parsed from `head`) to `out`,
/// with the route's changes when there are any. `compress`: compression's
/// changes (the caller has set `resp.body` to the framing the client gets).
pub fn write_client_head(
    resp: &ResponseHead,
    head: &[u8],
    client: ClientSide,
    (edit, compress): (Option<&ResponseEdit>, Option<Change>),
    out: &mut Vec<u8>,
) {
    let head = ClientHead {
        resp,
        head,
        client,
        edit,
        compress,
    };
    head.write_http1(out);
}

fn write_connection(resp: &ResponseHead, client: ClientSide, out: &mut Vec<u8>) {
    if resp.is_interim() {
        // Interim responses carry no connection handling of their own.
    } else if resp.status == 101 {
        out.extend_from_slice(b"Connection: upgrade\r\n");
    } else if !client.keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if client.version == Version::Http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
}

/// A body that ends with the upstream's connection is framed as chunks for
/// the client, as nginx sends it: a cut one then lacks its last chunk where
/// a close would pass it off as whole (RFC 9112 §8), and an HTTP/1.1
/// client's connection outlives it. HTTP/1.0 clients still get it
/// delimited by the close (`chunked_to_client`). Not under a transfer
/// coding tern doesn't decode, which must stay the last one.
pub fn chunk_until_close(resp: &mut ResponseHead) {
    if resp.body == BodyKind::UntilClose && !resp.keep_transfer_encoding {
        resp.body = BodyKind::Chunked;
    }
}

/// Whether the client gets the body chunked. HTTP/1.0 clients must not
/// (RFC 9112 §7): they get it decoded and delimited by closing.
pub fn chunked_to_client(body: BodyKind, client: Version) -> bool {
    body == BodyKind::Chunked && client == Version::Http11
}

fn write_framing(resp: &ResponseHead, client: ClientSide, out: &mut Vec<u8>) {
    match resp.body {
        BodyKind::Length(n) => {
            out.extend_from_slice(b"Content-Length: ");
            push_decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        BodyKind::Chunked
            if !resp.keep_transfer_encoding && chunked_to_client(resp.body, client.version) =>
        {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::response;

    fn relay(head: &[u8], is_head: bool, client: ClientSide) -> String {
        let mut headers = crate::http::request::field_slots::<32>();
        let resp = response::parse(head, &mut headers, is_head).expect("valid response");
        let mut out = Vec::new();
        write_client_head(&resp, head, client, (None, None), &mut out);
        String::from_utf8(out).expect("ascii")
    }

    const KEEP: ClientSide = ClientSide {
        version: Version::Http11,
        keep_alive: true,
    };

    #[test]
    fn drops_hop_by_hop_fields() {
        let out = relay(
            b"HTTP/1.1 200 OK\r\nConnection: X-Bar\r\nX-Bar: 1\r\nKeep-Alive: t=5\r\nTrailer: X\r\n\
              Proxy-Connection: k\r\nX-Kept: 1\r\nContent-Length: 2\r\n\r\n",
            false,
            KEEP,
        );
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\nX-Kept: 1\r\nContent-Length: 2\r\n\r\n"
        );
    }

    #[test]
    fn head_response_keeps_its_content_length() {
        let out = relay(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true, KEEP);
        assert_eq!(out, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
    }

    #[test]
    fn no_framing_field_goes_out_on_a_1xx_or_a_204() {
        for head in [
            &b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nX-A: 1\r\n\r\n"[..],
            b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n",
            b"HTTP/1.1 103 Early Hints\r\nContent-Length: 5\r\nX-A: 1\r\n\r\n",
            b"HTTP/1.1 103 Early Hints\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n",
        ] {
            let out = relay(head, false, KEEP);
            let status = &out[..out.find("\r\n").expect("a status line")];
            assert_eq!(out, format!("{status}\r\nX-A: 1\r\n\r\n"));
        }
    }

    #[test]
    fn transfer_encoding_describes_a_bodiless_answer_to_http11_clients_only() {
        let head = b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n";
        let out = relay(head, false, KEEP);
        assert_eq!(
            out,
            "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        let old = ClientSide {
            version: Version::Http10,
            keep_alive: false,
        };
        let out = relay(head, false, old);
        assert_eq!(
            out,
            "HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n"
        );
        let out = relay(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            true,
            old,
        );
        assert_eq!(out, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    }

    #[test]
    fn says_close_or_keep_alive_as_the_client_needs() {
        let closing = ClientSide {
            version: Version::Http11,
            keep_alive: false,
        };
        let out = relay(
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            false,
            closing,
        );
        assert!(out.ends_with("Connection: close\r\n\r\n"), "{out}");
        let old = ClientSide {
            version: Version::Http10,
            keep_alive: true,
        };
        let out = relay(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, old);
        assert!(out.ends_with("Connection: keep-alive\r\n\r\n"), "{out}");
    }

    #[test]
    fn switching_protocols_keeps_upgrade() {
        let out = relay(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            false,
            KEEP,
        );
        assert_eq!(
            out,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"
        );
    }

    #[test]
    fn http10_upstream_status_line_is_relayed_as_http11() {
        let out = relay(
            b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            false,
            KEEP,
        );
        assert!(out.starts_with("HTTP/1.1 404 Not Found\r\n"), "{out}");
    }
}
