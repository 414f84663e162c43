//! How a config file that does not parse is told to a person: the key, and
//! the problem in the words of TOML ("a table", "a list", "a whole number
//! up to 65535"), not in those of the Rust types behind it (`map`,
//! `sequence`, `struct TimeoutsSection`, `u16`).

use std::ops::Range;

use super::schema::ConfigFile;

/// What a parse error says: the key it is under (empty for the file) and
/// one line with the problem and where it is.
pub(super) struct Described {
    pub key: String,
    pub message: String,
}

/// The key and the one-line message for a failed parse of `text`.
pub(super) fn describe(err: serde_path_to_error::Error<toml::de::Error>, text: &str) -> Described {
    let key = key_of(err.path());
    let inner = err.into_inner();
    let span = inner.span();
    let raw = one_line(inner.message());
    let (key, message) = match span.as_ref().and_then(|at| out_of_range(text, at, &raw)) {
        Some(found) => found,
        None => {
            let message = plain_types(&raw);
            let hint = span
                .as_ref()
                .map(|at| list_of_tables_hint(&key, &message, text, at))
                .unwrap_or_default();
            (key, format!("{message}{hint}"))
        }
    };
    let line = span
        .map(|at| format!(" (line {})", line_of(text, at.start)))
        .unwrap_or_default();
    Described {
        key,
        message: format!("{message}{line}"),
    }
}

/// serde_path_to_error prints "." for the root, which is no key at all.
fn key_of(path: &serde_path_to_error::Path) -> String {
    let key = path.to_string();
    if key == "." {
        String::new()
    } else {
        key
    }
}

/// One line a person can act on: toml's messages may span several.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// serde names the Rust type it wanted ("expected usize", "expected struct
/// TimeoutsSection") or found ("invalid type: map"); a person writing TOML
/// wants to read what to write instead.
fn plain_types(message: &str) -> String {
    const PLAIN: [(&str, &str); 14] = [
        ("expected usize", "expected a whole number"),
        ("expected u64", "expected a whole number"),
        ("expected u32", "expected a whole number up to 4294967295"),
        ("expected u16", "expected a whole number up to 65535"),
        ("expected u8", "expected a whole number up to 255"),
        ("expected i64", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
        ("expected a sequence", "expected a list [...]"),
        ("expected a map", "expected a table"),
        ("invalid type: map", "invalid type: a table"),
        ("invalid type: sequence", "invalid type: a list"),
        // toml's word for an enum written as neither; tern's are names.
        ("wanted string or table", "expected a string"),
        ("unknown variant", "unknown value"),
    ];
    let mut message = message.to_owned();
    for (rust, plain) in PLAIN {
        if let Some(at) = message.find(rust) {
            let end = at + rust.len();
            // Whole words only: "expected u8" is not the start of "expected u80".
            if !message[end..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
                message.replace_range(at..end, plain);
            }
        }
    }
    plain_struct_names(&message)
}

/// "expected struct ListenerTls" (serde's word for a section of the
/// schema) is "expected a table".
fn plain_struct_names(message: &str) -> String {
    const STRUCT: &str = "expected struct ";
    let Some(at) = message.find(STRUCT) else {
        return message.to_owned();
    };
    let name = &message[at + STRUCT.len()..];
    let name_len = name
        .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .unwrap_or(name.len());
    let rest = &name[name_len..];
    format!("{}expected a table{rest}", &message[..at])
}

/// `[route]` written for `[[route]]`: the file has one table where a list
/// of them belongs, and the fix is one bracket each side.
fn list_of_tables_hint(key: &str, message: &str, text: &str, at: &Range<usize>) -> String {
    let is_header = text.get(at.start..).is_some_and(|t| t.starts_with('['));
    let wants_list = message.contains("invalid type: a table, expected a list");
    if is_header && wants_list && !key.is_empty() && !key.contains('[') {
        format!("; write [[{key}]] (a list of tables)")
    } else {
        String::new()
    }
}

/// The range of TOML's integers (signed 64-bit ones).
const TOML_MAX: &str = "9223372036854775807";
const TOML_MIN: &str = "-9223372036854775808";

/// A number past what TOML holds is refused by the parser before anything
/// knows which key it is for: the key is found by parsing again (see
/// `key_expecting`), and the message says the bound. `None` when the
/// error is another.
fn out_of_range(text: &str, at: &Range<usize>, message: &str) -> Option<(String, String)> {
    let too = match message {
        "number too large to fit in target type" => "large",
        "number too small to fit in target type" => "small",
        _ => return None,
    };
    let literal = number_at(text, at.start)?;
    Some(match key_expecting(text, at.start, literal) {
        Some((key, expected)) => (key, bound_message(literal, too, &expected)),
        None => (
            String::new(),
            format!("{literal} is too {too}: TOML's numbers go from {TOML_MIN} to {TOML_MAX}"),
        ),
    })
}

/// Parses `text` again with the number at `start` replaced by a string,
/// which the key's type refuses with the key's path and what it expects
/// (plain). `None` when that refusal is not at `start`: another problem
/// comes first, or the key takes a string.
fn key_expecting(text: &str, start: usize, literal: &str) -> Option<(String, String)> {
    let mut patched = String::with_capacity(text.len() + 2);
    patched.push_str(&text[..start]);
    patched.push_str("\"\"");
    patched.push_str(&text[start + literal.len()..]);
    let deserializer = toml::Deserializer::new(&patched);
    let err = serde_path_to_error::deserialize::<_, ConfigFile>(deserializer).err()?;
    if err.inner().span().map(|span| span.start) != Some(start) {
        return None;
    }
    let expected = plain_types(&one_line(err.inner().message()));
    Some((key_of(err.path()), expected))
}

/// The number literal that starts at `start` (digits, a sign, `_`, a
/// `0x`/`0o`/`0b` prefix).
fn number_at(text: &str, start: usize) -> Option<&str> {
    let rest = text.get(start..)?;
    let len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-')))
        .unwrap_or(rest.len());
    (len > 0).then(|| &rest[..len])
}

/// "99999999999999999999 is too large: at most 65535", from what the key
/// expects (`expected` is the re-parse's plain message).
fn bound_message(literal: &str, too: &str, expected: &str) -> String {
    const WHOLE: &str = "expected a whole number";
    let wanted = expected
        .find("expected ")
        .map_or(expected, |at| &expected[at..]);
    let up_to = wanted
        .strip_prefix(WHOLE)
        .and_then(|rest| rest.strip_prefix(" up to "))
        .filter(|most| most.bytes().all(|b| b.is_ascii_digit()));
    let bound = match (up_to, too) {
        (Some(_), "small") => "at least 0".to_owned(),
        (Some(most), _) => format!("at most {most}"),
        (None, "small") if wanted == WHOLE => "at least 0".to_owned(),
        (None, _) if wanted == WHOLE => format!("at most {TOML_MAX}"),
        (None, _) => wanted.to_owned(),
    };
    format!("{literal} is too {too}: {bound}")
}

/// The 1-based line of byte `offset`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
