use super::*;

fn reverse() -> Reverse {
    Reverse {
        authorities: vec!["192.168.1.101:8080".into(), "localhost:2601".into()],
        cookie_domains: vec![("internal.example".into(), "www.example.com".into())],
    }
}

fn prefix_rewrite() -> PathRewrite {
    PathRewrite::Prefix {
        public: PathPrefix::new("/app").expect("valid"),
        upstream: "/other".into(),
    }
}

fn text(bytes: Option<Vec<u8>>) -> Option<String> {
    bytes.map(|b| String::from_utf8(b).expect("utf-8"))
}

#[test]
fn absolute_location_on_the_upstream_names_the_public_host() {
    let r = reverse();
    let public = Public {
        scheme: "http",
        host: b"www.example.com:8080",
        rewrite: None,
    };
    assert_eq!(
        text(r.url(b"http://192.168.1.101:8080/login?next=/x", &public)).as_deref(),
        Some("http://www.example.com:8080/login?next=/x")
    );
    assert_eq!(
        text(r.url(b"HTTP://LOCALHOST:2601", &public)).as_deref(),
        Some("http://www.example.com:8080")
    );
    assert_eq!(r.url(b"http://elsewhere.org/x", &public), None);
    assert_eq!(r.url(b"/relative", &public), None);
}

#[test]
fn upstream_prefix_is_mapped_back_to_the_public_prefix() {
    let r = reverse();
    let rewrite = prefix_rewrite();
    let public = Public {
        scheme: "https",
        host: b"site",
        rewrite: Some(&rewrite),
    };
    assert_eq!(
        text(r.url(b"http://localhost:2601/other/home?a#f", &public)).as_deref(),
        Some("https://site/app/home?a#f")
    );
    assert_eq!(text(r.url(b"/other/x", &public)).as_deref(), Some("/app/x"));
    assert_eq!(r.url(b"/unrelated", &public), None);
    assert_eq!(r.url(b"//cdn.example/other/x", &public), None);
}

#[test]
fn refresh_url_is_rewritten() {
    let r = reverse();
    let public = Public {
        scheme: "http",
        host: b"pub",
        rewrite: None,
    };
    assert_eq!(
        text(r.refresh(b"5; url=http://localhost:2601/next", &public)).as_deref(),
        Some("5; url=http://pub/next")
    );
    assert_eq!(r.refresh(b"5", &public), None);
}

#[test]
fn cookie_domain_and_path_are_rewritten() {
    let r = reverse();
    let rewrite = prefix_rewrite();
    let public = Public {
        scheme: "http",
        host: b"www.example.com:8080",
        rewrite: Some(&rewrite),
    };
    assert_eq!(
        text(r.set_cookie(
            b"JSESSIONID=abc; Domain=192.168.1.101; Path=/other/x; HttpOnly",
            &public
        ))
        .as_deref(),
        Some("JSESSIONID=abc; Domain=www.example.com; Path=/app/x; HttpOnly")
    );
    assert_eq!(
        text(r.set_cookie(b"a=1; domain=.internal.example", &public)).as_deref(),
        Some("a=1; domain=www.example.com")
    );
    assert_eq!(
        r.set_cookie(b"a=1; Domain=example.org; Path=/", &public),
        None
    );
    assert_eq!(r.set_cookie(b"Path=/other", &public), None);
}
