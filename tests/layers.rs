//! The layer order of lib.rs's "Layers" doc holds: no top-level module
//! imports one listed after it, and every top-level module is listed. What
//! counts as an import: `crate::NAME` (also inside `crate::{...}` groups)
//! and `super::NAME` in a top-level file, in code outside comments and
//! outside test modules (`#[cfg(test)]` to the end of a file, `tests.rs`,
//! `*_tests.rs`), which may reach anywhere.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// The modules of the "# Layers" section of lib.rs's doc, in order.
fn layer_order(lib_rs: &str) -> Vec<String> {
    let section = lib_rs
        .lines()
        .skip_while(|line| line.trim() != "//! # Layers")
        .skip(1)
        .take_while(|line| line.starts_with("//!"));
    let mut order = Vec::new();
    for line in section {
        // Only the numbered list (and its continuation lines) names layers.
        let item = line.trim_start_matches("//!").trim_start();
        let listed = item.starts_with(|c: char| c.is_ascii_digit()) || line.starts_with("//!    ");
        if listed {
            order.extend(item.split('`').skip(1).step_by(2).map(str::to_owned));
        }
    }
    order
}

/// The top-level modules lib.rs declares.
fn declared_modules(lib_rs: &str) -> Vec<String> {
    lib_rs
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub mod "))
        .map(|rest| rest.trim_end_matches(';').to_owned())
        .collect()
}

/// The code of a file as far as layering goes: no test module, no comments.
fn code_of(text: &str) -> String {
    let end = text.find("#[cfg(test)]").unwrap_or(text.len());
    text[..end]
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Names `code` imports from the crate root.
fn imported_roots(code: &str, top_level_file: bool) -> Vec<String> {
    let mut names = Vec::new();
    let mut prefixes = vec!["crate::"];
    if top_level_file {
        prefixes.push("super::");
    }
    for prefix in prefixes {
        for (at, _) in code.match_indices(prefix) {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &code[at + prefix.len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                names.extend(group.split(',').filter_map(first_ident));
            } else {
                names.extend(first_ident(rest));
            }
        }
    }
    names
}

fn first_ident(text: &str) -> Option<String> {
    let text = text.trim_start();
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    (end > 0).then(|| text[..end].to_owned())
}

/// Every source file of top-level module `name`, with whether it is the
/// module's own top file (where `super::` means the crate root).
fn files_of(name: &str) -> Vec<(PathBuf, bool)> {
    let file = Path::new(SRC).join(format!("{name}.rs"));
    if file.exists() {
        return vec![(file, true)];
    }
    let mut files = Vec::new();
    let mut dirs = vec![Path::new(SRC).join(name)];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).expect("module directory").flatten() {
            let path = entry.path();
            let file_name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                dirs.push(path);
            } else if file_name.ends_with(".rs")
                && file_name != "tests.rs"
                && !file_name.ends_with("_tests.rs")
            {
                let top = dir == Path::new(SRC).join(name) && file_name == "mod.rs";
                files.push((path, top));
            }
        }
    }
    files
}

/// `(module, file, imported module)` for every import of a module listed
/// after the importer.
fn upward_imports(order: &[String]) -> Vec<(String, String, String)> {
    let rank: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();
    let mut found = Vec::new();
    for module in order {
        for (path, top) in files_of(module) {
            let text = fs::read_to_string(&path).expect("source file");
            for name in imported_roots(&code_of(&text), top) {
                let above = rank
                    .get(name.as_str())
                    .is_some_and(|&r| r > rank[module.as_str()]);
                if above {
                    let file = path
                        .strip_prefix(SRC)
                        .unwrap_or(&path)
                        .display()
                        .to_string();
                    found.push((module.clone(), file, name));
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn no_module_imports_one_above_it() {
    let lib_rs = fs::read_to_string(Path::new(SRC).join("lib.rs")).expect("lib.rs");
    let order = layer_order(&lib_rs);
    let upward = upward_imports(&order);
    let lines: Vec<String> = upward
        .iter()
        .map(|(module, file, name)| format!("{module} imports {name} (src/{file})"))
        .collect();
    assert!(
        lines.is_empty(),
        "imports against lib.rs's layer order:\n{}",
        lines.join("\n")
    );
}

#[test]
fn every_top_level_module_has_a_layer() {
    let lib_rs = fs::read_to_string(Path::new(SRC).join("lib.rs")).expect("lib.rs");
    let order = layer_order(&lib_rs);
    let mut declared = declared_modules(&lib_rs);
    let mut listed = order.clone();
    declared.sort();
    listed.sort();
    assert_eq!(
        listed, declared,
        "lib.rs's Layers list and its `pub mod`s differ"
    );
}

#[test]
fn the_checker_sees_plain_grouped_and_super_imports_but_not_comments_or_tests() {
    let code = code_of(
        "use crate::a::X;\nuse crate::{b, c::Y};\n// crate::d in a comment\nfn f() { super::e::g(); tern::crate_like(); }\n#[cfg(test)]\nmod tests { use crate::z; }\n",
    );
    assert_eq!(imported_roots(&code, true), ["a", "b", "c", "e"]);
    assert_eq!(imported_roots(&code, false), ["a", "b", "c"]);
}

#[test]
fn the_layer_list_is_read_in_order() {
    let doc = "//! # Layers\n//!\n//! Prose naming `prose`.\n//!\n//! 1. Leaves: `a` `b`\n//!    `c`\n//! 2. Next: `d`\n\npub mod a;\n";
    assert_eq!(layer_order(doc), ["a", "b", "c", "d"]);
    assert_eq!(declared_modules(doc), ["a"]);
}
