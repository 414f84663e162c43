//! ACME (RFC 8555): certificates ordered from Let's Encrypt or another CA
//! and renewed by tern itself, instead of certbot, a cron job and a reload
//! hook.
//!
//! A TLS listener's `tls.acme` table names the domains (`config`). Building
//! the plan registers them (`registry`): the certificate stored under
//! `storage` (`store`) is served at once when it is valid; otherwise a
//! temporary self-signed one (`certs`) is, while the order runs. Each
//! registered certificate sits in a [`CertSlot`] that the listener's SNI
//! resolver reads on every handshake, so a new certificate reaches every
//! worker on the next handshake: no reload, no connection dropped.
//!
//! Orders and renewals run on one control thread of their own (`thread`)
//! with a tokio current-thread runtime, the one `instant-acme` (hyper)
//! needs; the monoio workers never wait on the CA. Orders for different
//! certificates run side by side there, and each request to a CA is
//! bounded in time (`client`), so a CA that hangs delays only its own
//! certificates. Challenges are answered
//! by the workers from process-wide tables (`challenge`): HTTP-01 on plain
//! listeners before any route, TLS-ALPN-01 by the TLS listener's resolver.
//!
//! Registration is keyed by directory, storage and domain set, so a reload
//! with the same domains finds the certificate (and its schedule) already
//! there and orders nothing.

mod certs;
pub mod challenge;
mod client;
mod config;
mod order;
mod registry;
mod slot;
mod store;
mod thread;

pub use certs::dns_names;
pub use config::{AcmeSection, ChallengeKind, Sites};
pub use registry::{build, snapshot, CertStatus, Managed};
pub use slot::CertSlot;
pub use thread::start;

/// The ALPN protocol of TLS-ALPN-01 (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";
