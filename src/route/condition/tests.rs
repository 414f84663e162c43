use super::*;

fn input<'a>(target: &'a [u8], headers: &'a [Header<'a>]) -> RouteInput<'a> {
    let path_end = memchr::memchr(b'?', target).unwrap_or(target.len());
    RouteInput {
        method: "GET",
        target,
        path: &target[..path_end],
        host: b"Notes.Example.com:8080",
        headers,
        client_ip: "10.1.2.3".parse().expect("ip"),
        listener: 1,
    }
}

fn holds(cond: &Condition, input: &RouteInput) -> bool {
    cond.holds(input, &|backend| backend == 7)
}

#[test]
fn host_ignores_port_and_case() {
    let req = input(b"/", &[]);
    let exact = Condition::Host(vec![HostPattern::name("notes.example.com").expect("ok")]);
    assert!(holds(&exact, &req));
    let other = Condition::Host(vec![HostPattern::name("example.com").expect("ok")]);
    assert!(!holds(&other, &req));
    let domain = Condition::Host(vec![HostPattern::domain("example.com").expect("ok")]);
    assert!(holds(&domain, &req));
}

#[test]
fn path_regex_sees_the_path_only() {
    let req = input(b"/a/b.php?x=/c", &[]);
    let php = Condition::PathRegex(Regex::new(r"\.php$").expect("regex"));
    assert!(holds(&php, &req));
    let in_query = Condition::PathRegex(Regex::new("/c$").expect("regex"));
    assert!(!holds(&in_query, &req));
}

#[test]
fn url_contains_sees_the_query() {
    let req = input(b"/app?wtd=wt1abc&x", &[]);
    assert!(holds(&Condition::UrlContains(b"wtd=wt1".to_vec()), &req));
    assert!(!holds(&Condition::UrlContains(b"wtd=wt2".to_vec()), &req));
}

#[test]
fn query_present_and_equal() {
    let req = input(b"/?a=1&flag&b=", &[]);
    let q = |t: &str| Condition::Query(QueryTest::parse(t));
    assert!(holds(&q("a"), &req));
    assert!(holds(&q("a=1"), &req));
    assert!(!holds(&q("a=2"), &req));
    assert!(holds(&q("flag"), &req));
    assert!(holds(&q("b="), &req));
    assert!(!holds(&q("c"), &req));
    assert!(!holds(&q("a"), &input(b"/a=1", &[])));
}

#[test]
fn header_present_equal_contains() {
    let headers = [
        Header {
            name: "X-Env",
            value: b"staging-2",
        },
        Header {
            name: "Accept",
            value: b"text/html",
        },
    ];
    let req = input(b"/", &headers);
    let h = |check| {
        Condition::Header(HeaderTest {
            name: "x-env".into(),
            check,
        })
    };
    assert!(holds(&h(ValueCheck::Present), &req));
    assert!(holds(&h(ValueCheck::Equals(b"staging-2".to_vec())), &req));
    assert!(!holds(&h(ValueCheck::Equals(b"staging".to_vec())), &req));
    assert!(holds(&h(ValueCheck::Contains(b"aging".to_vec())), &req));
    assert!(!holds(&h(ValueCheck::Contains(b"prod".to_vec())), &req));
    let absent = Condition::Header(HeaderTest {
        name: "X-Missing".into(),
        check: ValueCheck::Present,
    });
    assert!(!holds(&absent, &req));
}

#[test]
fn method_source_listener_and_backend_up() {
    let req = input(b"/", &[]);
    assert!(holds(
        &Condition::Method(vec!["POST".into(), "GET".into()]),
        &req
    ));
    assert!(!holds(&Condition::Method(vec!["POST".into()]), &req));
    let net = |t: &str| Cidr::parse(t).expect("cidr");
    assert!(holds(&Condition::Source(vec![net("10.0.0.0/8")]), &req));
    assert!(!holds(
        &Condition::Source(vec![net("192.168.0.0/16")]),
        &req
    ));
    assert!(holds(&Condition::Listener(vec![0, 1]), &req));
    assert!(!holds(&Condition::Listener(vec![0]), &req));
    assert!(holds(&Condition::BackendUp(7), &req));
    assert!(!holds(&Condition::BackendUp(3), &req));
}
