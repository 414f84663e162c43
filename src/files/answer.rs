//! The decision for one request on a static route, made synchronously
//! (opening and `fstat` included) so the async part only sends bytes —
//! unless a name's lookup needs the disk: then the answer is "open it
//! first" (`Answer::Open`), and it is made again once a file thread has.

use std::fs::{File, Metadata};
use std::time::UNIX_EPOCH;

use super::compressed::Compressed;
use super::conditional::{not_modified, precondition_fails, range_applies, Validators};
use super::content_type::content_type;
use super::date::http_date;
use super::deny::Deny;
use super::find::{find, Found};
use super::gzip::accepts_gzip;
use super::head::ResponseHead;
use super::open::{open_beneath, OpenFile};
use super::opened::Opened;
use super::range::{self, Ranged};
use super::reply::{FileBody, Reply};
use super::site::StaticSite;
use crate::compress::head::Change;
use crate::http::request::RequestHead;
use crate::http::Persist;
use crate::http::Version;

pub enum Answer {
    Ready(Reply),
    /// A name's lookup needs the disk: `opened` holds it, for
    /// `opened::open_missing`; then answer again with the same `opened`.
    Open,
}

/// Answers `req`, whose path after the route's prefix is `url_path`;
/// `opened`: what file threads opened for it in earlier rounds.
pub fn answer(
    site: &StaticSite,
    req: &RequestHead,
    url_path: &[u8],
    opened: &mut Opened,
) -> Answer {
    // A request body too large to drop ends the connection; a smaller one
    // is dropped after the reply.
    let persist = req.persist();
    let is_head = req.is_head();
    if !matches!(req.method, "GET" | "HEAD") {
        let mut head = ResponseHead::new(405);
        head.field("Allow", "GET, HEAD");
        return Answer::Ready(Reply::status_with(head, 405, is_head, persist));
    }
    let reply = match find(site, url_path, req.path(), opened) {
        Ok(Found::File { file, meta, rel }) => {
            let variant = match gzip_variant(site, req, &rel, opened) {
                Ok(variant) => variant,
                Err(_) => return Answer::Open,
            };
            serve_file(site, req, (file, meta, variant), &rel, persist)
        }
        Ok(Found::Listing(page)) => {
            let head = ResponseHead::new(200);
            Reply::with_body(head, "text/html; charset=utf-8", &page, is_head, persist)
        }
        Ok(Found::AddSlash) => add_slash(req, persist),
        Err(Deny::Uncached) => return Answer::Open,
        Err(deny) => {
            log_denied(site, req, deny);
            Reply::status(deny.status(), is_head, persist)
        }
    };
    Answer::Ready(reply)
}

/// `(file, meta, gz)`: the file found, and the `.gz` beside it to serve
/// instead, if any.
fn serve_file(
    site: &StaticSite,
    req: &RequestHead,
    (file, meta, gz): (File, Metadata, Option<OpenFile>),
    rel: &[u8],
    persist: Persist,
) -> Reply {
    let content_type = content_type(rel);
    let (file, meta, gzipped) = match gz {
        Some((gz, gz_meta)) => (gz, gz_meta, true),
        None => (file, meta, false),
    };
    let size = meta.len();
    let change = (!gzipped)
        .then(|| compress_change(site, req, content_type, size))
        .flatten();
    let validators = Validators::of(size, meta.modified().unwrap_or(UNIX_EPOCH));
    if precondition_fails(req.headers, &validators) {
        return Reply::status(412, req.is_head(), persist);
    }
    if not_modified(req.headers, &validators) {
        let head = validated_head(site, &validators, 304, change);
        return Reply::with_no_body(head, persist);
    }
    let (status, start, len) = match ranged(req, &validators, size) {
        Ranged::Whole => (200, 0, size),
        Ranged::Part { start, end } => (206, start, end - start + 1),
        Ranged::Unsatisfiable => {
            let mut head = ResponseHead::new(416);
            head.field("Content-Range", format_args!("bytes */{size}"));
            return Reply::status_with(head, 416, req.is_head(), persist);
        }
    };
    let mut head = validated_head(site, &validators, status, change);
    head.field("Content-Type", content_type);
    let compressed = change.and_then(|change| compressed(site, req, change, &mut head));
    if compressed.is_none() {
        head.field("Content-Length", len)
            .field("Accept-Ranges", "bytes");
    }
    // An HTTP/1.0 client learns where a compressed body ends by the close.
    let persist = match compressed {
        Some(how) if !how.chunked => Persist::Close,
        _ => persist,
    };
    if status == 206 {
        let end = start + len - 1;
        head.field("Content-Range", format_args!("bytes {start}-{end}/{size}"));
    }
    if gzipped {
        head.field("Content-Encoding", "gzip");
    }
    let body = (!req.is_head() && len > 0).then_some(FileBody { file, start, len });
    Reply {
        head: head.finish(persist),
        body,
        persist,
        compressed,
    }
}

/// The route's `compress` for this file: `None` when it has none, or the
/// file is not compressed (HEAD, a Range request, a type not listed, too
/// short) and so does not vary by Accept-Encoding.
fn compress_change(
    site: &StaticSite,
    req: &RequestHead,
    content_type: &str,
    size: u64,
) -> Option<Change> {
    let policy = site.compress.as_ref()?;
    let chosen = crate::compress::decide::for_request(policy, req, false)?;
    let eligible =
        size > 0 && size >= policy.min_length && policy.compresses_type(content_type.as_bytes());
    // `Vary` itself is written by `validated_head` (for `.gz` files too).
    Change::new(eligible, chosen.coding, false)
}

/// The fields of a compressed 200 and how its body goes out.
fn compressed(
    site: &StaticSite,
    req: &RequestHead,
    change: Change,
    head: &mut ResponseHead,
) -> Option<Compressed> {
    let policy = site.compress.as_ref()?;
    let coding = change.coding?;
    head.field("Content-Encoding", coding.token());
    let chunked = req.version == Version::Http11;
    if chunked {
        head.field("Transfer-Encoding", "chunked");
    }
    Some(Compressed {
        encoding: policy.encoding(coding),
        chunked,
    })
}

/// The fields a 200, 206 and 304 share: validators, caching, Vary (the
/// answer depends on Accept-Encoding wherever a `.gz` may be chosen, or
/// the file compressed). `change`: the file is compressed (its ETag is
/// then weak), or would be for another client.
fn validated_head(
    site: &StaticSite,
    validators: &Validators,
    status: u16,
    change: Option<Change>,
) -> ResponseHead {
    let mut head = ResponseHead::new(status);
    let etag = validators.etag.as_bytes();
    match change.and_then(|change| change.etag(etag)) {
        Some(weak) => head.bytes_field("ETag", &weak),
        None => head.bytes_field("ETag", etag),
    };
    head.field("Last-Modified", http_date(validators.last_modified()));
    if let Some(cache_control) = &site.cache_control {
        head.field("Cache-Control", cache_control);
    }
    if site.gzip_static || change.is_some_and(|change| change.vary) {
        head.field("Vary", "Accept-Encoding");
    }
    head
}

/// `file.gz` beside `file`, when the site serves them and the client takes
/// gzip; `Err(Deny::Uncached)` when its lookup needs the disk.
fn gzip_variant(
    site: &StaticSite,
    req: &RequestHead,
    rel: &[u8],
    opened: &mut Opened,
) -> Result<Option<OpenFile>, Deny> {
    if !site.gzip_static || !accepts_gzip(req.headers) {
        return Ok(None);
    }
    let mut gz = rel.to_vec();
    gz.extend_from_slice(b".gz");
    match open_beneath(site, &gz, opened) {
        Ok((file, meta)) => Ok(meta.is_file().then_some((file, meta))),
        Err(Deny::Uncached) => Err(Deny::Uncached),
        Err(_) => Ok(None),
    }
}

/// The Range to serve: one `Range` field, for the version the client has.
fn ranged(req: &RequestHead, validators: &Validators, size: u64) -> Ranged {
    let mut ranges = req
        .headers
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case("range"));
    let (Some(range), None) = (ranges.next(), ranges.next()) else {
        return Ranged::Whole;
    };
    let if_range = req
        .headers
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case("if-range"))
        .map(|f| f.value);
    if !range_applies(if_range, validators) {
        return Ranged::Whole;
    }
    range::select(range.value, size)
}

/// 301 to the same path with '/' added, the query kept.
fn add_slash(req: &RequestHead, persist: Persist) -> Reply {
    let path = req.path();
    let query =
        memchr::memchr(b'?', req.origin_target).map_or(&b""[..], |at| &req.origin_target[at..]);
    let mut location = Vec::with_capacity(path.len() + 1 + query.len());
    location.extend_from_slice(path);
    location.push(b'/');
    location.extend_from_slice(query);
    let mut head = ResponseHead::new(301);
    head.bytes_field("Location", &location);
    Reply::status_with(head, 301, req.is_head(), persist)
}

/// Refusals of paths that try to leave the root or name what isn't served
/// are worth a warning; a missing file is ordinary traffic.
fn log_denied(site: &StaticSite, req: &RequestHead, deny: Deny) {
    let path = String::from_utf8_lossy(req.path());
    match deny {
        Deny::Forbidden(why) => crate::log::warn(format_args!(
            "static {:?}: {path:?} refused ({why}): 403",
            site.root.canonical()
        )),
        Deny::BadRequest(why) => {
            crate::log::debug(format_args!("static: {path:?} refused ({why}): 400"))
        }
        Deny::NotFound => crate::log::debug(format_args!("static: {path:?} not found: 404")),
        // Logged by the opener once per episode (Busy), by the file
        // thread (Lost).
        Deny::Busy | Deny::Uncached | Deny::Lost => {}
    }
}
