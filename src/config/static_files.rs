//! `static = { root = "...", ... }` on a route: the TOML table and its
//! validation into a `files::StaticSite` (root opened, and followed when a
//! deploy replaces it).

use std::sync::Arc;

use serde::Deserialize;

use super::plan::PlanError;
use crate::files::{SiteSettings, StaticSite};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticSection {
    pub root: String,
    #[serde(default = "default_index")]
    pub index: String,
    #[serde(default)]
    pub listing: bool,
    pub cache_control: Option<String>,
    #[serde(default = "enabled")]
    pub gzip_static: bool,
}

fn default_index() -> String {
    "index.html".to_owned()
}

fn enabled() -> bool {
    true
}

/// `route[index].static`, checked; errors name the key below it.
/// `compress`: the route's `compress`, already checked.
pub fn build(
    index: usize,
    section: &StaticSection,
    compress: Option<Arc<crate::compress::Policy>>,
) -> Result<Arc<StaticSite>, PlanError> {
    let settings = SiteSettings {
        root: &section.root,
        index: &section.index,
        listing: section.listing,
        cache_control: section.cache_control.as_deref(),
        gzip_static: section.gzip_static,
    };
    StaticSite::open(&settings)
        .map(|mut site| {
            site.compress = compress;
            site
        })
        .map(Arc::new)
        .map_err(|(key, message)| (format!("route[{index}].static.{key}"), message))
}
