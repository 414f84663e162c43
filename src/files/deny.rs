//! Why a file is not served, and the status that says so.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deny {
    /// A URL that can't be decoded.
    BadRequest(&'static str),
    /// A path that tries to leave the root, or a file tern may not serve.
    Forbidden(&'static str),
    NotFound,
    /// Not an answer yet: the name's lookup needs the disk, and a file
    /// thread opens it (`open.rs`) before the request is answered again.
    Uncached,
    /// The file threads stayed behind (a disk that hangs): the worker
    /// does not wait in their place.
    Busy,
    /// The file thread's work for it ended without an answer (it
    /// panicked, and was logged).
    Lost,
}

impl Deny {
    pub fn status(self) -> u16 {
        match self {
            Deny::BadRequest(_) => 400,
            Deny::Forbidden(_) => 403,
            Deny::NotFound => 404,
            // Never sent: `answer` turns it into `Answer::Open`.
            Deny::Uncached => 503,
            Deny::Busy => 503,
            Deny::Lost => 500,
        }
    }
}
