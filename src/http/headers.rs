//! Header field rules shared by requests and responses: which fields are
//! hop-by-hop, list tokens, and strict Content-Length parsing.

/// The fields tern treats specially; everything else is forwarded as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Host,
    ContentLength,
    TransferEncoding,
    Connection,
    /// Keep-Alive, Proxy-Connection, TE, Trailer: always removed (RFC 9110 §7.6.1).
    HopByHop,
    Upgrade,
    Expect,
    XForwardedFor,
    XForwardedProto,
    XForwardedHost,
    Other,
}

/// Classifies a field name, case-insensitively. Dispatches on length first
/// because this runs for every field of every message.
pub fn classify(name: &[u8]) -> FieldKind {
    let is = |lower: &[u8]| name.eq_ignore_ascii_case(lower);
    match name.len() {
        2 if is(b"te") => FieldKind::HopByHop,
        4 if is(b"host") => FieldKind::Host,
        6 if is(b"expect") => FieldKind::Expect,
        7 if is(b"upgrade") => FieldKind::Upgrade,
        7 if is(b"trailer") => FieldKind::HopByHop,
        10 if is(b"connection") => FieldKind::Connection,
        10 if is(b"keep-alive") => FieldKind::HopByHop,
        14 if is(b"content-length") => FieldKind::ContentLength,
        15 if is(b"x-forwarded-for") => FieldKind::XForwardedFor,
        16 if is(b"proxy-connection") => FieldKind::HopByHop,
        16 if is(b"x-forwarded-host") => FieldKind::XForwardedHost,
        17 if is(b"transfer-encoding") => FieldKind::TransferEncoding,
        17 if is(b"x-forwarded-proto") => FieldKind::XForwardedProto,
        _ => FieldKind::Other,
    }
}

/// The elements of a comma-separated list field, trimmed, empty ones skipped.
pub fn list_tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(|token| token.trim_ascii())
        .filter(|token| !token.is_empty())
}

pub fn has_token(value: &[u8], token: &[u8]) -> bool {
    list_tokens(value).any(|t| t.eq_ignore_ascii_case(token))
}

/// A Content-Length value that is not 1*DIGIT, or disagrees with another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidContentLength;

/// Accumulates Content-Length fields: every value (and every element of a
/// list value such as `5, 5`) must be 1*DIGIT and all must agree.
#[derive(Debug, Default, Clone, Copy)]
pub struct ContentLength(Option<u64>);

impl ContentLength {
    pub fn add(&mut self, value: &[u8]) -> Result<(), InvalidContentLength> {
        let mut any = false;
        for element in value.split(|&b| b == b',').map(|e| e.trim_ascii()) {
            let n = parse_decimal(element).ok_or(InvalidContentLength)?;
            match self.0 {
                Some(previous) if previous != n => return Err(InvalidContentLength),
                _ => self.0 = Some(n),
            }
            any = true;
        }
        if any {
            Ok(())
        } else {
            Err(InvalidContentLength)
        }
    }

    pub fn get(self) -> Option<u64> {
        self.0
    }
}

/// 1*DIGIT without sign or spaces, no overflow.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit()
            .then(|| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
            .flatten()
    })
}

/// Appends `name: value\r\n`.
pub fn push_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends a decimal number without allocating.
pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_hop_by_hop_fields_in_any_case() {
        assert_eq!(classify(b"Connection"), FieldKind::Connection);
        assert_eq!(classify(b"KEEP-ALIVE"), FieldKind::HopByHop);
        assert_eq!(classify(b"te"), FieldKind::HopByHop);
        assert_eq!(classify(b"Trailer"), FieldKind::HopByHop);
        assert_eq!(classify(b"Proxy-Connection"), FieldKind::HopByHop);
        assert_eq!(classify(b"transfer-encoding"), FieldKind::TransferEncoding);
        assert_eq!(classify(b"X-Custom"), FieldKind::Other);
        assert_eq!(classify(b"Hosts"), FieldKind::Other);
    }

    #[test]
    fn content_length_accepts_equal_repeats() {
        let mut cl = ContentLength::default();
        assert!(cl.add(b"5").is_ok());
        assert!(cl.add(b"5, 5").is_ok());
        assert_eq!(cl.get(), Some(5));
    }

    #[test]
    fn content_length_rejects_conflicts_and_junk() {
        for bad in [
            &b"abc"[..],
            b"-1",
            b"+5",
            b"5 5",
            b"",
            b" ",
            b"0x10",
            b"99999999999999999999",
        ] {
            assert!(ContentLength::default().add(bad).is_err(), "{:?}", bad);
        }
        let mut cl = ContentLength::default();
        cl.add(b"5").expect("first value");
        assert!(cl.add(b"6").is_err());
        assert!(ContentLength::default().add(b"5, 6").is_err());
    }

    #[test]
    fn list_tokens_trim_and_skip_empty() {
        let tokens: Vec<&[u8]> = list_tokens(b" close ,, X-Foo").collect();
        assert_eq!(tokens, vec![&b"close"[..], b"X-Foo"]);
        assert!(has_token(b"keep-alive, Upgrade", b"upgrade"));
    }

    #[test]
    fn decimals_are_written_without_allocation() {
        let mut out = Vec::new();
        push_decimal(&mut out, 0);
        out.push(b' ');
        push_decimal(&mut out, 18_446_744_073_709_551_615);
        assert_eq!(out, b"0 18446744073709551615");
    }
}
