//! `[server] pin_workers`: accepted as true/false, refused otherwise, and
//! reported in the ` started:` line. By default workers are pinned only when
//! the process's affinity mask is narrower than the machine and holds one
//! CPU per worker (src/pinning.rs); what the kernel holds for each worker
//! thread (`/proc/PID/task/TID/status`) is checked, not just the line.

mod common;

use common::traffic::wait_lines;
use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

fn config(server: &str) -> String {
    format!(
        "[server]\n{server}\n\n[[listener]]\nbind = \"127.0.0.1:0\"\n\n[[route]]\nbackend = \"app\"\n\n\
         [backend.app]\nservers = [\"127.0.0.1:9\"]\n"
    )
}

/// "0-2,5" -> [0, 1, 2, 5].
fn cpu_list(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let (lo, hi): (usize, usize) = (lo.parse().expect("cpu"), hi.parse().expect("cpu"));
        out.extend(lo..=hi);
    }
    out
}

fn allowed(status_path: &str) -> Vec<usize> {
    let status = std::fs::read_to_string(status_path).expect("read status");
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list");
    cpu_list(line)
}

/// CPUs this test process may run on, and CPUs the machine has online.
fn mask_and_online() -> (Vec<usize>, usize) {
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").expect("online");
    (allowed("/proc/self/status"), cpu_list(&online).len())
}

/// A tern started with `prefix` (e.g. taskset) before it; killed on drop.
struct Started {
    child: Child,
    line: String,
    _config: TempFile,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Started {
    fn run(prefix: &[&str], toml: &str) -> Started {
        let cfg = TempFile::new("pinning.toml", toml);
        let program = bin();
        let mut argv: Vec<&str> = prefix.to_vec();
        argv.extend([program.as_str(), "--config"]);
        let mut child = Command::new(argv[0])
            .args(&argv[1..])
            .arg(&cfg.path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tern");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(" started:") => {
                    return Started {
                        child,
                        line,
                        _config: cfg,
                    }
                }
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("tern did not start:\n{}", seen.join("\n"));
    }

    fn pinned(&self) -> bool {
        match self
            .line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("pinned="))
        {
            Some("true") => true,
            Some("false") => false,
            other => panic!("no pinned=true|false in {:?} ({other:?})", self.line),
        }
    }

    /// The CPUs each worker thread may run on, by thread name.
    fn worker_cpus(&self) -> Vec<(String, Vec<usize>)> {
        let pid = self.child.id();
        let mut out = Vec::new();
        for entry in std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks") {
            let dir = entry.expect("task").path();
            let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            if name.starts_with("tern-worker") {
                let status = dir.join("status");
                out.push((name.trim().to_string(), allowed(&status.to_string_lossy())));
            }
        }
        out.sort();
        out
    }
}

#[test]
fn pin_workers_true_pins_each_worker_to_one_cpu_and_says_so() {
    let (mask, _) = mask_and_online();
    let tern = Started::run(&[], &config("workers = 2\npin_workers = true"));
    assert!(tern.pinned(), "{}", tern.line);
    let workers = tern.worker_cpus();
    assert_eq!(workers.len(), 2, "{workers:?}");
    for (name, cpus) in &workers {
        assert_eq!(cpus.len(), 1, "{name} may run on {cpus:?}");
        assert!(mask.contains(&cpus[0]), "{name} on {cpus:?}, mask {mask:?}");
    }
}

#[test]
fn pin_workers_false_leaves_every_worker_on_the_whole_mask() {
    let (mask, _) = mask_and_online();
    let line = format!("workers = {}\npin_workers = false", mask.len());
    let tern = Started::run(&[], &config(&line));
    assert!(!tern.pinned(), "{}", tern.line);
    for (name, cpus) in tern.worker_cpus() {
        assert_eq!(cpus, mask, "{name}");
    }
}

#[test]
fn by_default_one_worker_per_cpu_is_pinned_only_on_a_narrowed_mask() {
    let (mask, online) = mask_and_online();
    // As started: one worker per CPU of the mask (the default count).
    let whole = Started::run(&[], &config(""));
    assert_eq!(whole.pinned(), mask.len() < online, "{}", whole.line);
    assert!(whole.line.contains(&format!("workers={} ", mask.len())));
    drop(whole);
    // Given one CPU of its own with taskset: pinned to it, if the machine
    // has more than that one.
    let cpu = mask[0].to_string();
    let narrowed = Started::run(&["taskset", "-c", &cpu], &config(""));
    assert_eq!(narrowed.pinned(), online > 1, "{}", narrowed.line);
    assert!(narrowed.line.contains("workers=1 "), "{}", narrowed.line);
    // More workers than CPUs in the mask: they would share, so not pinned.
    let shared = Started::run(&["taskset", "-c", &cpu], &config("workers = 2"));
    assert!(!shared.pinned(), "{}", shared.line);
}

#[test]
fn pin_workers_is_checked_by_name_and_type() {
    let check = |server: &str| {
        let f = TempFile::new("pin.toml", &config(server));
        let out = run_tern(&["--check", "--config", &f.path_str()]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), err)
    };
    for ok in ["pin_workers = true", "pin_workers = false"] {
        assert_eq!(check(ok).0, Some(0), "{ok}: {}", check(ok).1);
    }
    let (code, err) = check("pin_workers = \"yes\"");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("pin.toml"), "{err}");
    assert!(err.contains("server.pin_workers"), "{err}");
    assert!(err.contains("true or false"), "{err}");
    let (code, err) = check("pin_worker = true");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("pin_worker"), "{err}");
}

#[test]
fn a_reload_that_changes_pin_workers_says_it_needs_a_restart() {
    let tern = Tern::start(&config("workers = 1\npin_workers = false"));
    std::fs::write(
        tern.config_path(),
        config("workers = 1\npin_workers = true"),
    )
    .expect("write");
    tern.signal("HUP");
    let warned = "server.pin_workers changed; it takes effect on restart or upgrade";
    assert!(
        wait_lines(&tern, warned, 1, Duration::from_secs(10)),
        "{:?}",
        tern.stderr()
    );
    assert!(wait_lines(&tern, "reloaded:", 1, Duration::from_secs(10)));
}
