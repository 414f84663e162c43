//! What a route does: proxy to a backend (`backend = "NAME"`) or serve
//! files (`static = { ... }`). Exactly one of the two.

use super::plan::{Backend, PlanError};
use super::schema::RouteSection;
use crate::route::Action;

pub fn build(
    index: usize,
    section: &RouteSection,
    backends: &[Backend],
) -> Result<Action, PlanError> {
    let here = || format!("route[{index}]");
    match (&section.backend, &section.static_files) {
        (Some(name), None) => backend_index(index, name, backends).map(Action::Proxy),
        (None, Some(files)) => super::static_files::build(index, files).map(Action::Static),
        (Some(_), Some(_)) => Err((
            here(),
            "has both backend and static; a route either proxies or serves files".into(),
        )),
        (None, None) => Err((
            here(),
            "needs backend = \"NAME\" or static = { root = \"DIR\" }".into(),
        )),
    }
}

fn backend_index(index: usize, name: &str, backends: &[Backend]) -> Result<usize, PlanError> {
    backends.iter().position(|b| b.name == name).ok_or_else(|| {
        (
            format!("route[{index}].backend"),
            format!("no backend named {name:?} (add a [backend.{name}] table)"),
        )
    })
}
