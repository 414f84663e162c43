//! HTTP dates for `Date` and `Last-Modified`. The `Date` of the current
//! second is formatted once per worker and reused; `Last-Modified` is
//! written straight into the head (`HttpDate` is `Display`).

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

thread_local! {
    static NOW: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`, for formatting in place.
pub fn http_date(time: SystemTime) -> httpdate::HttpDate {
    httpdate::HttpDate::from(time)
}

/// Appends the current date, formatted at most once a second.
pub fn push_now(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    NOW.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != secs || cached.1.is_empty() {
            *cached = (secs, http_date(now).to_string());
        }
        out.extend_from_slice(cached.1.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_are_imf_fixdate() {
        let time = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(time).to_string(), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn now_is_a_parseable_current_date() {
        let mut out = Vec::new();
        push_now(&mut out);
        let text = String::from_utf8(out).expect("ascii");
        let parsed = httpdate::parse_http_date(&text).expect("parses");
        let age = SystemTime::now().duration_since(parsed).unwrap_or_default();
        assert!(age < Duration::from_secs(5), "{text}");
    }
}
