//! A deliberately tiny `--flag value` parser.
//!
//! The CLI is a contract with the benchmark scripts, so unknown flags are an
//! error rather than silently ignored: a typo should fail loudly, not run a
//! different experiment.

use std::collections::HashMap;
use std::str::FromStr;

pub struct Flags {
    values: HashMap<String, String>,
}

impl Flags {
    /// Parses `args` (without the program name and subcommand).
    /// `switches` take no value; `options` take exactly one.
    /// Both `--name value` and `--name=value` are accepted.
    pub fn parse(args: &[String], switches: &[&str], options: &[&str]) -> Result<Flags, String> {
        let mut values = HashMap::new();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let Some(flag) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument `{arg}`"));
            };
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (flag, None),
            };
            let value = if switches.contains(&name) {
                if inline.is_some() {
                    return Err(format!("--{name} takes no value"));
                }
                "true".to_string()
            } else if options.contains(&name) {
                match inline.or_else(|| it.next().cloned()) {
                    Some(v) => v,
                    None => return Err(format!("--{name} needs a value")),
                }
            } else {
                return Err(format!("unknown flag --{name}"));
            };
            values.insert(name.to_string(), value);
        }
        Ok(Flags { values })
    }

    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The parsed value of `--name`, or `default` when it was not given.
    pub fn get<T: FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.values.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("bad value `{v}` for --{name}")),
        }
    }

    /// A float flag that must lie in `lo..=hi`. Rejecting NaN, infinity
    /// and absurd values here keeps `Duration::from_secs_f64` from panicking.
    pub fn number(&self, name: &str, default: f64, lo: f64, hi: f64) -> Result<f64, String> {
        let v: f64 = self.get(name, default)?;
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(format!("--{name} must be between {lo} and {hi}"))
        }
    }

    pub fn required<T: FromStr>(&self, name: &str) -> Result<T, String> {
        let v = self
            .values
            .get(name)
            .ok_or(format!("--{name} is required"))?;
        v.parse()
            .map_err(|_| format!("bad value `{v}` for --{name}"))
    }
}

/// Parses `123` or `123,456` (the `--pid`/`--proxy-pid` lists).
pub fn parse_pids(list: &str) -> Result<Vec<u32>, String> {
    list.split(',')
        .map(|p| p.trim().parse().map_err(|_| format!("bad pid `{p}`")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_both_forms_and_switches() {
        let f = Flags::parse(&argv("--a 1 --b=x --json"), &["json"], &["a", "b"]).unwrap();
        assert_eq!(f.get("a", 0u32).unwrap(), 1);
        assert_eq!(f.str("b"), Some("x"));
        assert!(f.has("json"));
        assert_eq!(f.get("missing", 7u32).unwrap(), 7);
    }

    #[test]
    fn rejects_unknown_and_missing_values() {
        assert!(Flags::parse(&argv("--nope 1"), &[], &["a"]).is_err());
        assert!(Flags::parse(&argv("--a"), &[], &["a"]).is_err());
        assert!(Flags::parse(&argv("stray"), &[], &["a"]).is_err());
        let f = Flags::parse(&argv("--a x"), &[], &["a"]).unwrap();
        assert!(f.get("a", 0u32).is_err());
        assert!(f.required::<u32>("b").is_err());
        let f = Flags::parse(&argv("--r inf --s 5"), &[], &["r", "s"]).unwrap();
        assert!(f.number("r", 1.0, 0.0, 10.0).is_err());
        assert_eq!(f.number("s", 1.0, 0.0, 10.0), Ok(5.0));
        assert!(f.number("s", 1.0, 0.0, 4.0).is_err());
    }

    #[test]
    fn pid_lists() {
        assert_eq!(parse_pids("1,22, 3").unwrap(), vec![1, 22, 3]);
        assert!(parse_pids("1,x").is_err());
    }
}
