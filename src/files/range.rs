//! The `Range` field (RFC 9110 §14.2): one byte range gets 206; several get
//! the whole file (a server may ignore Range), unless none of them can be
//! satisfied; a field that doesn't parse is ignored, as the RFC allows.

/// What a request's Range asks of a file of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranged {
    /// Serve the whole file with 200.
    Whole,
    /// Serve `start..=end` with 206.
    Part { start: u64, end: u64 },
    /// 416 with `Content-Range: bytes */size`.
    Unsatisfiable,
}

pub fn select(range: &[u8], size: u64) -> Ranged {
    let Some(specs) = strip_unit(range.trim_ascii()) else {
        return Ranged::Whole;
    };
    let mut parsed = Vec::new();
    for spec in specs.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
        if spec.is_empty() {
            continue;
        }
        match parse_spec(spec) {
            Some(spec) => parsed.push(spec),
            None => return Ranged::Whole,
        }
    }
    let satisfiable: Vec<(u64, u64)> = parsed.iter().filter_map(|s| s.within(size)).collect();
    match (parsed.len(), satisfiable.first()) {
        (0, _) => Ranged::Whole,
        (_, None) => Ranged::Unsatisfiable,
        (1, Some(&(start, end))) => Ranged::Part { start, end },
        _ => Ranged::Whole,
    }
}

fn strip_unit(range: &[u8]) -> Option<&[u8]> {
    let (unit, specs) = range.split_at_checked(6)?;
    unit.eq_ignore_ascii_case(b"bytes=").then_some(specs)
}

#[derive(Debug, Clone, Copy)]
enum Spec {
    /// `a-b` or `a-` (`end` is `None`).
    From { start: u64, end: Option<u64> },
    /// `-n`: the last n bytes.
    Suffix(u64),
}

impl Spec {
    /// The inclusive byte span this spec selects in a file of `size`.
    fn within(self, size: u64) -> Option<(u64, u64)> {
        let last = size.checked_sub(1)?;
        match self {
            Spec::From { start, end } if start <= last => {
                Some((start, end.map_or(last, |end| end.min(last))))
            }
            Spec::From { .. } => None,
            Spec::Suffix(0) => None,
            Spec::Suffix(n) => Some((size - n.min(size), last)),
        }
    }
}

fn parse_spec(spec: &[u8]) -> Option<Spec> {
    let dash = memchr::memchr(b'-', spec)?;
    let (first, last) = (&spec[..dash], &spec[dash + 1..]);
    if first.is_empty() {
        return digits(last).map(Spec::Suffix);
    }
    let start = digits(first)?;
    let end = if last.is_empty() {
        None
    } else {
        Some(digits(last)?)
    };
    match end {
        Some(end) if end < start => None,
        _ => Some(Spec::From { start, end }),
    }
}

fn digits(text: &[u8]) -> Option<u64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(start: u64, end: u64) -> Ranged {
        Ranged::Part { start, end }
    }

    #[test]
    fn single_ranges_in_all_three_forms() {
        assert_eq!(select(b"bytes=0-9", 100), part(0, 9));
        assert_eq!(select(b"bytes=90-", 100), part(90, 99));
        assert_eq!(select(b"bytes=-10", 100), part(90, 99));
        assert_eq!(select(b"Bytes= 5-5 ", 100), part(5, 5));
    }

    #[test]
    fn ranges_are_clamped_to_the_file() {
        assert_eq!(select(b"bytes=50-1000", 100), part(50, 99));
        assert_eq!(select(b"bytes=-1000", 100), part(0, 99));
    }

    #[test]
    fn ranges_past_the_end_are_unsatisfiable() {
        assert_eq!(select(b"bytes=100-", 100), Ranged::Unsatisfiable);
        assert_eq!(select(b"bytes=-0", 100), Ranged::Unsatisfiable);
        assert_eq!(select(b"bytes=0-", 0), Ranged::Unsatisfiable);
        assert_eq!(select(b"bytes=200-300, 400-", 100), Ranged::Unsatisfiable);
    }

    #[test]
    fn several_ranges_get_the_whole_file() {
        assert_eq!(select(b"bytes=0-1, 5-6", 100), Ranged::Whole);
        assert_eq!(select(b"bytes=0-1, 500-", 100), Ranged::Whole);
    }

    #[test]
    fn malformed_ranges_are_ignored() {
        for bad in [
            &b"bytes=5-1"[..],
            b"bytes=a-b",
            b"bytes=-",
            b"bytes=1-2-3",
            b"lines=1-2",
            b"bytes=",
            b"bytes=+1-2",
        ] {
            assert_eq!(
                select(bad, 100),
                Ranged::Whole,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
