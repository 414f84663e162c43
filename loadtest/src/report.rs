//! Presenting results: latency percentiles, an aligned human table, and a
//! one-line JSON object for scripts (hand-formatted: flat keys, numbers and
//! plain strings only, so a serializer would be more code than this).

use hdrhistogram::Histogram;

/// A latency histogram in microseconds, 1 µs to 1 hour, 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant bounds are valid")
}

pub struct Report {
    rows: Vec<(String, String, String)>,
}

impl Report {
    pub fn new() -> Report {
        Report { rows: Vec::new() }
    }

    /// A numeric field: bare in JSON.
    pub fn num(&mut self, key: &str, value: impl std::fmt::Display) {
        let v = value.to_string();
        self.rows.push((key.to_string(), v.clone(), v));
    }

    /// A number that may be unknown: `null` in JSON, `-` in the table.
    pub fn opt(&mut self, key: &str, value: Option<impl std::fmt::Display>) {
        match value {
            Some(v) => self.num(key, v),
            None => self.rows.push((key.to_string(), "-".into(), "null".into())),
        }
    }

    /// A float field, shown with `decimals` places.
    pub fn float(&mut self, key: &str, value: f64, decimals: usize) {
        if !value.is_finite() {
            self.rows.push((key.to_string(), "-".into(), "null".into()));
            return;
        }
        let v = format!("{value:.decimals$}");
        self.rows.push((key.to_string(), v.clone(), v));
    }

    /// A string field: quoted and escaped in JSON.
    pub fn text(&mut self, key: &str, value: &str) {
        self.rows
            .push((key.to_string(), value.to_string(), json_string(value)));
    }

    /// p50/p99/p99.9/max of a µs histogram, as milliseconds.
    pub fn latency(&mut self, prefix: &str, h: &Histogram<u64>) {
        let ms = |us: u64| us as f64 / 1000.0;
        if h.is_empty() {
            for q in ["p50", "p99", "p999", "max"] {
                self.float(&format!("{prefix}_{q}_ms"), f64::NAN, 3);
            }
            return;
        }
        self.float(&format!("{prefix}_p50_ms"), ms(h.value_at_quantile(0.5)), 3);
        self.float(
            &format!("{prefix}_p99_ms"),
            ms(h.value_at_quantile(0.99)),
            3,
        );
        self.float(
            &format!("{prefix}_p999_ms"),
            ms(h.value_at_quantile(0.999)),
            3,
        );
        self.float(&format!("{prefix}_max_ms"), ms(h.max()), 3);
    }

    pub fn table(&self) -> String {
        let width = self.rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        self.rows
            .iter()
            .map(|(k, human, _)| format!("{k:<width$}  {human}\n"))
            .collect()
    }

    pub fn json(&self) -> String {
        let fields: Vec<String> = self
            .rows
            .iter()
            .map(|(k, _, j)| format!("{}:{}", json_string(k), j))
            .collect();
        format!("{{{}}}", fields.join(","))
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_table() {
        let mut r = Report::new();
        r.num("established", 10);
        r.text("target", "127.0.0.1:80 \"x\"\n");
        r.float("ratio", 0.5, 2);
        r.float("none", f64::NAN, 2);
        assert_eq!(
            r.json(),
            r#"{"established":10,"target":"127.0.0.1:80 \"x\"\u000a","ratio":0.50,"none":null}"#
        );
        assert!(r.table().starts_with("established  10\n"));
    }

    #[test]
    fn latency_fields() {
        let mut h = latency_histogram();
        for v in 1..=1000 {
            h.record(v).unwrap();
        }
        let mut r = Report::new();
        r.latency("rtt", &h);
        let j = r.json();
        assert!(j.contains("\"rtt_p50_ms\":0.50"), "{j}");
        assert!(j.contains("\"rtt_max_ms\":1.000"), "{j}");
    }
}
