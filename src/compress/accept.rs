//! The coding a client takes best (RFC 9110 §12.5.3): each coding's
//! q-value from its own entry, else from `*`; q=0 refuses; the highest
//! q wins and the route's order breaks ties. `x-gzip` counts as `gzip`.

use httparse::Header;

use super::policy::Coding;
use crate::http::headers::list_tokens;

/// The best of `offered` (the route's codings, preferred first) for a
/// request with these fields; `None` when it takes none of them.
pub fn choose(headers: &[Header], offered: &[Coding]) -> Option<Coding> {
    let mut weights = [None::<u16>; 2];
    let mut any = None;
    let fields = headers
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case("accept-encoding"));
    for field in fields {
        for element in list_tokens(field.value) {
            let (coding, weight) = split_weight(element);
            let slot = if coding.eq_ignore_ascii_case(b"br") {
                &mut weights[0]
            } else if coding.eq_ignore_ascii_case(b"gzip") || coding.eq_ignore_ascii_case(b"x-gzip")
            {
                &mut weights[1]
            } else if coding == b"*" {
                &mut any
            } else {
                continue;
            };
            *slot = Some(weight);
        }
    }
    let weight_of = |coding: Coding| {
        let own = match coding {
            Coding::Br => weights[0],
            Coding::Gzip => weights[1],
        };
        own.or(any).unwrap_or(0)
    };
    let mut best: Option<(Coding, u16)> = None;
    for &coding in offered {
        let weight = weight_of(coding);
        if weight > 0 && best.is_none_or(|(_, w)| weight > w) {
            best = Some((coding, weight));
        }
    }
    best.map(|(coding, _)| coding)
}

/// The coding and its weight in thousandths (no `q` means 1000; a `q`
/// that is not a q-value counts as 0, refusing rather than guessing).
fn split_weight(element: &[u8]) -> (&[u8], u16) {
    let mut parts = element.split(|&b| b == b';');
    let coding = parts.next().unwrap_or_default().trim_ascii();
    let mut weight = 1000;
    for param in parts {
        let param = param.trim_ascii();
        if let Some(value) = param
            .strip_prefix(b"q=")
            .or_else(|| param.strip_prefix(b"Q="))
        {
            weight = qvalue(value.trim_ascii()).unwrap_or(0);
        }
    }
    (coding, weight)
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`.
fn qvalue(text: &[u8]) -> Option<u16> {
    let (&first, rest) = text.split_first()?;
    let decimals = match rest.split_first() {
        None => &[][..],
        Some((b'.', decimals)) if decimals.len() <= 3 => decimals,
        Some(_) => return None,
    };
    if !decimals.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths = 0u16;
    for i in 0..3 {
        let digit = decimals.get(i).map_or(0, |d| u16::from(d - b'0'));
        thousandths = thousandths * 10 + digit;
    }
    match first {
        b'0' => Some(thousandths),
        b'1' if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: &[Coding] = &[Coding::Br, Coding::Gzip];

    fn pick(value: &str, offered: &[Coding]) -> Option<Coding> {
        choose(
            &[Header {
                name: "Accept-Encoding",
                value: value.as_bytes(),
            }],
            offered,
        )
    }

    #[test]
    fn highest_q_wins_and_the_route_breaks_ties() {
        assert_eq!(pick("gzip, br", BOTH), Some(Coding::Br));
        assert_eq!(
            pick("gzip, br", &[Coding::Gzip, Coding::Br]),
            Some(Coding::Gzip)
        );
        assert_eq!(pick("br;q=0.5, gzip;q=0.8", BOTH), Some(Coding::Gzip));
        assert_eq!(pick("br;q=0.501, gzip;q=0.5", BOTH), Some(Coding::Br));
        assert_eq!(pick("x-gzip", BOTH), Some(Coding::Gzip));
        assert_eq!(pick("deflate, GZIP;Q=1.0", BOTH), Some(Coding::Gzip));
    }

    #[test]
    fn zero_refuses_and_star_covers_the_rest() {
        assert_eq!(pick("br;q=0, gzip", BOTH), Some(Coding::Gzip));
        assert_eq!(pick("gzip;q=0", &[Coding::Gzip]), None);
        assert_eq!(pick("*;q=0.1, br;q=0", BOTH), Some(Coding::Gzip));
        assert_eq!(pick("*", BOTH), Some(Coding::Br));
        assert_eq!(pick("*;q=0", BOTH), None);
        assert_eq!(pick("gzip;q=0.000", &[Coding::Gzip]), None);
    }

    #[test]
    fn nothing_offered_or_nonsense_refuses() {
        assert_eq!(pick("identity", BOTH), None);
        assert_eq!(pick("", BOTH), None);
        assert_eq!(pick("br", &[Coding::Gzip]), None);
        assert_eq!(pick("gzip;q=2", BOTH), None);
        assert_eq!(pick("gzip;q=0.5x", BOTH), None);
        assert_eq!(pick("gzip;q=1.5", BOTH), None);
        assert_eq!(choose(&[], BOTH), None);
    }
}
