//! Escaping text for HTML pages tern writes itself (the admin status page,
//! static directory listings): nothing from a config file or a file name
//! is trusted as markup.

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(super::escape("<b>&\"'x"), "&lt;b&gt;&amp;&quot;&#39;x");
    }
}
