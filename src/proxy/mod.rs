//! One client connection: read a request head, route it, and proxy the
//! exchange to an upstream, as many times as keep-alive allows.

pub mod conn;
mod exchange;
mod prepare;
mod read_head;
mod relay;
pub mod rewrite_request;
pub mod rewrite_response;
mod session;
mod tunnel;

pub use session::serve;

/// What happens to the client connection after an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    KeepAlive,
    Close,
}
