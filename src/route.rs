//! Routes: conditions on a request and the backend that serves it. Routes are
//! tried in order and the first whose conditions all hold wins.

use std::sync::Arc;

use crate::files::StaticSite;

/// What routing looks at, borrowed from the parsed request head.
pub struct RouteInput<'a> {
    /// The path of the target, without the query.
    pub path: &'a [u8],
}

#[derive(Debug)]
pub struct Route {
    pub name: String,
    pub path_prefix: Option<PathPrefix>,
    pub action: Action,
}

/// What a matching route does with the request.
#[derive(Debug)]
pub enum Action {
    /// Proxy to this backend (an index into `Plan::backends`).
    Proxy(usize),
    /// Serve files from this site.
    Static(Arc<StaticSite>),
}

impl Route {
    pub fn matches(&self, input: &RouteInput) -> bool {
        self.path_prefix
            .as_ref()
            .is_none_or(|prefix| prefix.matches(input.path))
    }

    /// The path with this route's prefix removed (all of it without one):
    /// what a static route resolves under its root.
    pub fn strip_prefix<'p>(&self, path: &'p [u8]) -> &'p [u8] {
        self.path_prefix
            .as_ref()
            .map_or(path, |prefix| prefix.strip(path))
    }
}

/// First route whose conditions hold.
pub fn select<'r>(routes: &'r [Route], input: &RouteInput) -> Option<&'r Route> {
    routes.iter().find(|route| route.matches(input))
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

    /// The rest of a path this prefix matched.
    pub fn strip<'p>(&self, path: &'p [u8]) -> &'p [u8] {
        path.get(self.0.len()..).unwrap_or_default()
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
    fn strip_removes_exactly_the_prefix() {
        assert_eq!(prefix("/static/").strip(b"/static/a/b.css"), b"a/b.css");
        assert_eq!(prefix("/static").strip(b"/static/a.css"), b"/a.css");
        assert_eq!(prefix("/static").strip(b"/static"), b"");
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
                action: Action::Proxy(0),
            },
            Route {
                name: "b".into(),
                path_prefix: None,
                action: Action::Proxy(1),
            },
        ];
        let pick = |p: &[u8]| {
            select(&routes, &RouteInput { path: p }).map(|r| match r.action {
                Action::Proxy(backend) => backend,
                Action::Static(_) => usize::MAX,
            })
        };
        assert_eq!(pick(b"/api/x"), Some(0));
        assert_eq!(pick(b"/apix"), Some(1));
    }
}
