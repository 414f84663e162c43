//! Headless Chromium for the browser tests: loads a URL and returns the
//! DOM its scripts left (`--dump-dom`, taken after the load event).
//! Chromium must be installed (`.ci/run` installs Debian's package): a
//! missing browser fails the test rather than skipping it.

use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::TempFile;

/// Chromium's DOM dump of `url`, run with `extra` flags on top of the
/// headless ones.
pub fn dump_dom(url: &str, extra: &[&str]) -> String {
    // A fresh profile per run, removed after (TempFile only removes files).
    let marker = TempFile::new("marker", "");
    let profile = marker.path.with_file_name("chromium-profile");
    let child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
        ])
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let child = match child {
        Ok(child) => child,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            panic!("chromium is not installed: apt-get install chromium (.ci/run does)")
        }
        Err(err) => panic!("cannot run chromium: {err}"),
    };
    let dom = wait_output(child, Duration::from_secs(60));
    let _ = std::fs::remove_dir_all(&profile);
    dom
}

/// The child's stdout; kills it (our own child) if it runs too long.
fn wait_output(mut child: std::process::Child, limit: Duration) -> String {
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = thread::spawn(move || {
        let mut out = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
        out
    });
    let deadline = Instant::now() + limit;
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {limit:?}");
        }
        thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap_or_default()
}
