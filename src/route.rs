//! Routes: conditions on a request and the backend that serves it. Routes are
//! tried in order and the first whose conditions all hold wins.

/// What routing looks at, borrowed from the parsed request head.
pub struct RouteInput<'a> {
    /// The path of the target, without the query.
    pub path: &'a [u8],
}

#[derive(Debug)]
pub struct Route {
    pub name: String,
    pub path_prefix: Option<PathPrefix>,
    /// Index into `Plan::backends`.
    pub backend: usize,
}

impl Route {
    pub fn matches(&self, input: &RouteInput) -> bool {
        self.path_prefix
            .as_ref()
            .is_none_or(|prefix| prefix.matches(input.path))
    }
}

/// First route whose conditions hold.
pub fn select<'r>(routes: &'r [Route], input: &RouteInput) -> Option<&'r Route> {
    routes.iter().find(|route| route.matches(input))
}

/// The position of `route`, a reference into `routes` (`routes.len()` if
/// it is not one): routes are few, so a scan by address is cheap.
pub fn index_of(routes: &[Route], route: &Route) -> usize {
    routes
        .iter()
        .position(|r| std::ptr::eq(r, route))
        .unwrap_or(routes.len())
}

/// A path prefix matched on segment boundaries: `/app` matches `/app` and
/// `/app/x` but not `/apple`, as a user expects; `/app/` matches `/app/x` only.
#[derive(Debug, Clone)]
pub struct PathPrefix(String);

impl PathPrefix {
    pub fn new(prefix: &str) -> Result<PathPrefix, String> {
        if !prefix.starts_with('/') {
            return Err(format!("{prefix:?} must start with '/'"));
        }
        Ok(PathPrefix(prefix.to_owned()))
    }

    pub fn matches(&self, path: &[u8]) -> bool {
        let prefix = self.0.as_bytes();
        if !path.starts_with(prefix) {
            return false;
        }
        prefix.ends_with(b"/") || matches!(path.get(prefix.len()), None | Some(b'/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(p: &str) -> PathPrefix {
        PathPrefix::new(p).expect("valid prefix")
    }

    #[test]
    fn prefix_matches_on_segment_boundaries() {
        let app = prefix("/app");
        assert!(app.matches(b"/app"));
        assert!(app.matches(b"/app/"));
        assert!(app.matches(b"/app/x/y"));
        assert!(!app.matches(b"/apple"));
        assert!(!app.matches(b"/ap"));
        assert!(!app.matches(b"/other/app"));
    }

    #[test]
    fn prefix_with_trailing_slash_needs_the_slash() {
        let stat = prefix("/static/");
        assert!(stat.matches(b"/static/a.css"));
        assert!(!stat.matches(b"/static"));
        assert!(prefix("/").matches(b"/anything"));
    }

    #[test]
    fn prefix_must_be_absolute() {
        assert!(PathPrefix::new("app").is_err());
    }

    #[test]
    fn first_matching_route_wins() {
        let routes = vec![
            Route {
                name: "a".into(),
                path_prefix: Some(prefix("/api")),
                backend: 0,
            },
            Route {
                name: "b".into(),
                path_prefix: None,
                backend: 1,
            },
        ];
        let pick = |p: &[u8]| select(&routes, &RouteInput { path: p }).map(|r| r.backend);
        assert_eq!(pick(b"/api/x"), Some(0));
        assert_eq!(pick(b"/apix"), Some(1));
    }
}
