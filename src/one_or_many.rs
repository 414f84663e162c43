//! A configuration value that may be one string or a list of them
//! (`bind = "a"` or `bind = ["a", "b"]`, `contact = "mailto:..."` or a list).
//!
//! Here, at the bottom, so that both `config` and the `acme` section it
//! reads (which sits below `config`) use the one type.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, expecting = "a string or a list of strings")]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one.clone()],
            OneOrMany::Many(many) => many.clone(),
        }
    }
}
