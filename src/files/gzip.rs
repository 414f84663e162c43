//! Whether a client takes a precompressed `.gz` (nginx's gzip_static): it
//! must accept `gzip` (or `x-gzip`, or `*`) with a q-value above zero
//! (RFC 9110 §12.5.3). An explicit `gzip;q=0` wins over `*`.

use httparse::Header;

use crate::http::headers::list_tokens;

pub fn accepts_gzip(headers: &[Header]) -> bool {
    let mut gzip = None;
    let mut any = None;
    let fields = headers
        .iter()
        .filter(|field| field.name.eq_ignore_ascii_case("accept-encoding"));
    for field in fields {
        for element in list_tokens(field.value) {
            let (coding, weight) = split_weight(element);
            if coding.eq_ignore_ascii_case(b"gzip") || coding.eq_ignore_ascii_case(b"x-gzip") {
                gzip = Some(weight);
            } else if coding == b"*" {
                any = Some(weight);
            }
        }
    }
    gzip.or(any).is_some_and(|acceptable| acceptable)
}

/// The coding and whether its weight is above zero (no `q` means 1).
fn split_weight(element: &[u8]) -> (&[u8], bool) {
    let mut parts = element.split(|&b| b == b';');
    let coding = parts.next().unwrap_or_default().trim_ascii();
    let mut acceptable = true;
    for param in parts {
        let param = param.trim_ascii();
        if let Some(value) = param
            .strip_prefix(b"q=")
            .or_else(|| param.strip_prefix(b"Q="))
        {
            acceptable = !is_zero(value.trim_ascii());
        }
    }
    (coding, acceptable)
}

/// `0`, `0.`, `0.0`, `0.00`, `0.000`: the spellings of a zero q-value.
fn is_zero(qvalue: &[u8]) -> bool {
    match qvalue.split_first() {
        Some((b'0', rest)) => match rest.split_first() {
            None => true,
            Some((b'.', decimals)) => decimals.iter().all(|&d| d == b'0'),
            Some(_) => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(value: &str) -> bool {
        accepts_gzip(&[Header {
            name: "Accept-Encoding",
            value: value.as_bytes(),
        }])
    }

    #[test]
    fn gzip_in_the_list_is_accepted() {
        assert!(accepts("gzip"));
        assert!(accepts("br, GZIP;q=0.5"));
        assert!(accepts("deflate, x-gzip"));
        assert!(accepts("*"));
    }

    #[test]
    fn zero_weight_refuses() {
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("gzip; q=0.000"));
        assert!(!accepts("*, gzip;q=0"));
        assert!(!accepts("*;q=0"));
        assert!(accepts("gzip;q=0.001"));
    }

    #[test]
    fn other_codings_alone_refuse() {
        assert!(!accepts("br, deflate"));
        assert!(!accepts("identity"));
        assert!(!accepts_gzip(&[]));
    }
}
