//! Header edits of a route, for requests or responses:
//! `{ set = { Name = "v" }, add = { Name = "v" }, remove = ["Name"] }`.
//! `set` is a remove followed by an add, so it is stored that way.

use crate::http::headers::push_field;

#[derive(Debug, Clone, Default)]
pub struct HeaderEdits {
    /// Names whose fields are dropped (removed or set).
    remove: Vec<String>,
    /// Prebuilt `Name: value\r\n` lines appended after the kept fields.
    add: Vec<u8>,
}

impl HeaderEdits {
    pub fn new(set: &[(String, String)], add: &[(String, String)], remove: &[String]) -> Self {
        let mut edits = HeaderEdits::default();
        for name in remove.iter().chain(set.iter().map(|(name, _)| name)) {
            edits.remove.push(name.to_ascii_lowercase());
        }
        for (name, value) in set.iter().chain(add) {
            push_field(&mut edits.add, name.as_bytes(), value.as_bytes());
        }
        edits
    }

    pub fn removes(&self, name: &str) -> bool {
        self.remove.iter().any(|r| r.eq_ignore_ascii_case(name))
    }

    pub fn added_lines(&self) -> &[u8] {
        &self.add
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_removes_and_adds_add_only_adds() {
        let edits = HeaderEdits::new(
            &[("X-Env".into(), "prod".into())],
            &[("Via".into(), "tern".into())],
            &["Server".into()],
        );
        assert!(edits.removes("x-env"));
        assert!(edits.removes("SERVER"));
        assert!(!edits.removes("Via"));
        assert_eq!(edits.added_lines(), b"X-Env: prod\r\nVia: tern\r\n");
    }
}
