//! Replays the fuzz targets' committed inputs through the same functions
//! `cargo fuzz` runs (`tern::fuzzing`): the seed corpus in
//! `fuzz/corpus/<target>/` and every crash ever found, kept in
//! `fuzz/regressions/<target>/`. So CI, without nightly, still proves each
//! target's invariants on those inputs and that no old crash came back.

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `dir`, sorted; none when it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.is_file());
    files.sort();
    files
}

fn replay(target: &str) {
    let (_, run) = tern::fuzzing::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no fuzz target {target}"));
    let corpus = inputs(&fuzz_dir().join("corpus").join(target));
    assert!(!corpus.is_empty(), "fuzz/corpus/{target}/ has no seeds");
    let regressions = inputs(&fuzz_dir().join("regressions").join(target));
    for file in corpus.iter().chain(&regressions) {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{file:?}: {e}"));
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target} fails on {}", file.display());
    }
}

#[test]
fn every_target_has_a_test_here() {
    let source = include_str!("fuzz_corpus.rs");
    for (name, _) in tern::fuzzing::TARGETS {
        assert!(source.contains(&format!("replay(\"{name}\")")), "{name}");
    }
}

#[test]
fn request_head_corpus() {
    replay("request_head");
}

#[test]
fn response_head_corpus() {
    replay("response_head");
}

#[test]
fn chunked_corpus() {
    replay("chunked");
}

#[test]
fn config_corpus() {
    replay("config");
}

#[test]
fn static_path_corpus() {
    replay("static_path");
}

#[test]
fn host_corpus() {
    replay("host");
}

#[test]
fn cookie_corpus() {
    replay("cookie");
}

#[test]
fn h2_watch_corpus() {
    replay("h2_watch");
}
