//! `compress = true` or `compress = { algorithms, types, min_length, level }`
//! on a route: the TOML forms and their validation into a
//! `compress::Policy`, each mistake named by its key.

use std::fmt;
use std::sync::Arc;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::plan::PlanError;
use crate::compress::policy_defaults::{DEFAULT_LEVEL, DEFAULT_MIN_LENGTH, DEFAULT_TYPES};
use crate::compress::{Coding, Policy, TypePattern};

/// The table form; every key may be left out for its default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompressTable {
    pub algorithms: Option<Vec<String>>,
    pub types: Option<Vec<String>>,
    pub min_length: Option<u64>,
    pub level: Option<u32>,
}

/// `true`, `false`, or a [`CompressTable`].
#[derive(Debug)]
pub enum CompressSetting {
    Off,
    On(CompressTable),
}

/// Accepts a boolean as well as the table, keeping serde's own error
/// messages for the table (an untagged enum would hide them).
impl<'de> Deserialize<'de> for CompressSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SettingVisitor;
        impl<'de> Visitor<'de> for SettingVisitor {
            type Value = CompressSetting;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("true, false or { algorithms = [...], types = [...], min_length = N, level = N }")
            }
            fn visit_bool<E: de::Error>(self, on: bool) -> Result<CompressSetting, E> {
                Ok(if on {
                    CompressSetting::On(CompressTable::default())
                } else {
                    CompressSetting::Off
                })
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<CompressSetting, M::Error> {
                CompressTable::deserialize(MapAccessDeserializer::new(map)).map(CompressSetting::On)
            }
        }
        d.deserialize_any(SettingVisitor)
    }
}

/// `key`: the route's `compress` key, e.g. `route[2].compress`.
pub fn build(setting: &CompressSetting, key: &str) -> Result<Option<Arc<Policy>>, PlanError> {
    let CompressSetting::On(table) = setting else {
        return Ok(None);
    };
    let sub = |k: &str| format!("{key}.{k}");
    let codings = codings(table.algorithms.as_deref(), &sub("algorithms"))?;
    let types = types(table.types.as_deref(), &sub("types"))?;
    let level = match table.level {
        None => DEFAULT_LEVEL,
        Some(level @ 1..=9) => level as u8,
        Some(level) => {
            return Err((
                sub("level"),
                format!("{level} is not a level from 1 (fastest) to 9 (smallest)"),
            ))
        }
    };
    Ok(Some(Arc::new(Policy {
        codings,
        types,
        min_length: table.min_length.unwrap_or(DEFAULT_MIN_LENGTH),
        level,
    })))
}

fn codings(given: Option<&[String]>, key: &str) -> Result<Vec<Coding>, PlanError> {
    let Some(given) = given else {
        return Ok(vec![Coding::Br, Coding::Gzip]);
    };
    if given.is_empty() {
        return Err((
            key.to_owned(),
            "names no algorithm; give \"br\", \"gzip\" or both (or leave compress out)".into(),
        ));
    }
    let mut codings = Vec::with_capacity(given.len());
    for name in given {
        let coding = Coding::from_token(&name.to_ascii_lowercase()).ok_or_else(|| {
            (
                key.to_owned(),
                format!("{name:?} is not one of \"br\", \"gzip\""),
            )
        })?;
        if codings.contains(&coding) {
            return Err((key.to_owned(), format!("{name:?} is listed twice")));
        }
        codings.push(coding);
    }
    Ok(codings)
}

fn types(given: Option<&[String]>, key: &str) -> Result<Vec<TypePattern>, PlanError> {
    let given: Vec<&str> = match given {
        Some(given) => given.iter().map(String::as_str).collect(),
        None => DEFAULT_TYPES.to_vec(),
    };
    if given.is_empty() {
        return Err((
            key.to_owned(),
            "names no media type; leave it out for the defaults".into(),
        ));
    }
    given
        .iter()
        .map(|text| {
            TypePattern::parse(text).ok_or_else(|| {
                (
                    key.to_owned(),
                    format!("{text:?} is not a media type like \"text/html\" or \"text/*\""),
                )
            })
        })
        .collect()
}
