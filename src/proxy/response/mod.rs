//! The response head the client gets: what the route changes in it
//! (`edit`: reverse rewriting, header edits, the sticky cookie, decided once
//! the answering server is known) and writing it for the client's version
//! and framing (`write`).

pub mod edit;
pub mod write;
