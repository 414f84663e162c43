//! Records the commit the binary is built from, for `tern --version` and the `started:` line:
//! a benchmark or a bug report then says what was running, not what the tree held when it was
//! read. `TERN_BUILD_COMMIT` is the short hash, with ` + changes` when the files the binary is
//! built from differ from it, and empty when there is no git (a source tarball).

use std::path::Path;
use std::process::Command;

/// What the binary is built from; a change to any of them runs this script again.
const SOURCES: &[&str] = &["src", "Cargo.toml", "Cargo.lock", "build.rs"];

fn main() {
    for source in SOURCES {
        println!("cargo:rerun-if-changed={source}");
    }
    // A commit moves HEAD (or the branch it names) without touching the sources.
    for git_file in ["HEAD", "packed-refs"] {
        watch_git_file(git_file);
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch_git_file(&branch);
    }
    println!("cargo:rustc-env=TERN_BUILD_COMMIT={}", build_commit());
}

fn build_commit() -> String {
    let Some(hash) = git(&["rev-parse", "--short", "HEAD"]) else {
        return String::new();
    };
    let mut status = vec!["status", "--porcelain", "--untracked-files=no", "--"];
    status.extend(SOURCES);
    match git(&status) {
        Some(changes) if !changes.is_empty() => format!("{hash} + changes"),
        _ => hash,
    }
}

/// Asks cargo to run this script again when a file of git's changes. Only files that exist:
/// cargo takes a missing one as changed on every build.
fn watch_git_file(name: &str) {
    if let Some(path) = git(&["rev-parse", "--git-path", name]) {
        if Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}

/// A git command's trimmed output, or None when git is missing or fails.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
