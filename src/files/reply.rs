//! A response decided and ready to send: its head (with a small body
//! already appended, if any) and the file bytes that follow.

use std::fs::File;

use super::compressed::Compressed;
use super::head::{reason, ResponseHead};
use crate::http::Persist;

pub struct Reply {
    /// The head, followed by the whole body when it is generated here.
    pub head: Vec<u8>,
    /// File bytes to send after `head`.
    pub body: Option<FileBody>,
    pub persist: Persist,
    /// The file bytes go out compressed (route `compress`).
    pub compressed: Option<Compressed>,
}

/// `len` bytes of `file` from `start` on.
pub struct FileBody {
    pub file: File,
    pub start: u64,
    pub len: u64,
}

impl Reply {
    /// A head and an in-memory body; HEAD gets the head only, with the
    /// Content-Length the body would have had.
    pub fn with_body(
        mut head: ResponseHead,
        content_type: &str,
        body: &[u8],
        is_head: bool,
        persist: Persist,
    ) -> Reply {
        head.field("Content-Type", content_type)
            .field("Content-Length", body.len());
        let mut bytes = head.finish(persist);
        if !is_head {
            bytes.extend_from_slice(body);
        }
        Reply {
            head: bytes,
            body: None,
            persist,
            compressed: None,
        }
    }

    /// A 304: the head alone, no Content-Length (it would describe the
    /// body a 200 would have had, which there is no need to state).
    pub fn with_no_body(head: ResponseHead, persist: Persist) -> Reply {
        Reply {
            head: head.finish(persist),
            body: None,
            persist,
            compressed: None,
        }
    }

    /// An error page: the status line's reason as a short text body.
    pub fn status(status: u16, is_head: bool, persist: Persist) -> Reply {
        Reply::status_with(ResponseHead::new(status), status, is_head, persist)
    }

    /// An error page after fields the caller wrote (`Allow`, `Location`...).
    pub fn status_with(head: ResponseHead, status: u16, is_head: bool, persist: Persist) -> Reply {
        let text = format!("{}\n", reason(status));
        Reply::with_body(head, "text/plain", text.as_bytes(), is_head, persist)
    }
}
