//! Why sending a file's bytes stopped short.

use std::io;

#[derive(Debug)]
pub enum SendError {
    /// The client's socket failed or stalled past the timeout.
    Client,
    /// The file ended before the promised length: it shrank or was
    /// truncated after the head went out.
    Truncated,
    /// Reading the file failed.
    File(io::Error),
}
