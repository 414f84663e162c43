//! The status page in a real browser: headless Chromium loads it and the
//! rendered DOM shows the live numbers. Skipped, with a note, only where
//! chromium is not installed (CI installs Debian's package).

mod admin_support;
mod common;

use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use admin_support::*;
use common::*;

/// Chromium's DOM dump of `url`, or `None` when chromium isn't installed.
fn dump_dom(url: &str) -> Option<String> {
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
            url,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let child = match child {
        Ok(child) => child,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return None,
        Err(err) => panic!("cannot run chromium: {err}"),
    };
    let dom = wait_output(child, Duration::from_secs(60));
    let _ = std::fs::remove_dir_all(&profile);
    Some(dom)
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

#[test]
fn the_status_page_renders_the_live_numbers_in_chromium() {
    let (a, b) = (RecordingUpstream::echo(), RecordingUpstream::echo());
    let tern = start_with_admin(&Cfg::servers(&[a.addr, b.addr]).workers(1));
    let mut client = tern.connect();
    for i in 0..7 {
        assert_eq!(client.roundtrip(&get(&format!("/{i}"))).status, 200);
    }
    let (status, _, _) = admin_request(&tern, "POST", "/servers/app/1/drain", "");
    assert_eq!(status, 200);
    let url = format!("http://{}/", admin_addr(&tern));
    let Some(dom) = dump_dom(&url) else {
        eprintln!("note: chromium is not installed; the browser test was skipped");
        return;
    };
    assert!(dom.contains("<h2>backend app</h2>"), "{dom}");
    assert!(dom.contains(&a.addr.to_string()) && dom.contains(&b.addr.to_string()));
    assert!(
        dom.contains("2xx 7"),
        "the 7 requests are on the page: {dom}"
    );
    assert!(
        dom.contains("class=\"drain\">drain</td>"),
        "the drained server: {dom}"
    );
    assert!(
        dom.contains("class=\"up\">up</td>"),
        "the other server: {dom}"
    );
}
