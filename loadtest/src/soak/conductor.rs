//! The disruptions, on a thread of their own: the origin (tern's backend)
//! is killed and started again every `restart_every`, and tern is told to
//! reload (SIGHUP) every `reload_every`. Restarting blocks on the child's
//! "listening on" line, which must not stall the clients' runtime.

use super::ledger::Disruption;
use super::settings::Settings;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Counts {
    pub restarts: AtomicU64,
    pub reloads: AtomicU64,
    pub reload_errors: AtomicU64,
}

pub struct Conductor {
    pub stop: Arc<AtomicBool>,
    pub counts: Arc<Counts>,
    thread: std::thread::JoinHandle<Result<(), String>>,
}

struct Schedule {
    origin: SocketAddr,
    pid_file: Option<PathBuf>,
    tern_pid: u32,
    restart_every: Duration,
    reload_every: Duration,
    /// Offsets of the first restart and reload, chosen to fall between
    /// samples.
    first_restart: Duration,
    first_reload: Duration,
    end: Instant,
}

/// Starts the origin (returning once it listens) and the schedule.
pub fn start(s: &Settings, end: Instant, disruption: Arc<Disruption>) -> Result<Conductor, String> {
    let schedule = Schedule {
        origin: s.origin,
        pid_file: s.origin_pid_file.clone(),
        tern_pid: s.tern_pid,
        restart_every: s.restart_every,
        reload_every: s.reload_every,
        first_restart: s.restart_every / 2 + s.sample_every / 2,
        first_reload: s.reload_every / 2,
        end,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop2, counts2) = (stop.clone(), counts.clone());
    let thread = std::thread::Builder::new()
        .name("soak-conductor".into())
        .spawn(move || {
            // The origin is a child of this thread (see `spawn_origin`).
            let origin = spawn_origin(&schedule);
            let _ = ready_tx.send(origin.as_ref().map(|_| ()).map_err(Clone::clone));
            conduct(&schedule, origin?, &stop2, &counts2, &disruption)
        })
        .map_err(|e| format!("starting the conductor thread: {e}"))?;
    ready_rx
        .recv()
        .map_err(|_| "the conductor thread died".to_string())??;
    Ok(Conductor {
        stop,
        counts,
        thread,
    })
}

impl Conductor {
    /// Stops the schedule and the origin.
    pub fn finish(self) -> Result<(), String> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .join()
            .map_err(|_| "the conductor thread panicked".to_string())?
    }
}

/// The running origin; its stdout stays open so that a late line from it
/// can't fail on a closed pipe.
struct Origin {
    child: Child,
    _stdout: BufReader<ChildStdout>,
}

fn conduct(
    s: &Schedule,
    mut origin: Origin,
    stop: &AtomicBool,
    counts: &Counts,
    disruption: &Disruption,
) -> Result<(), String> {
    let begun = Instant::now();
    let mut next_restart = begun + s.first_restart;
    let mut next_reload = begun + s.first_reload;
    let result = loop {
        let now = Instant::now();
        if stop.load(Ordering::SeqCst) || now >= s.end {
            break Ok(());
        }
        if now >= next_restart {
            next_restart += s.restart_every;
            disruption.begin();
            end_origin(&mut origin);
            let spawned = spawn_origin(s);
            // From here on failures count against tern again, even if the
            // origin could not be started (then the soak fails anyway).
            disruption.ready();
            match spawned {
                Ok(child) => origin = child,
                Err(e) => break Err(e),
            }
            counts.restarts.fetch_add(1, Ordering::Relaxed);
        }
        if now >= next_reload {
            next_reload += s.reload_every;
            // SAFETY: kill(2) with a pid and a signal number; no memory involved.
            let rc = unsafe { libc::kill(s.tern_pid as libc::pid_t, libc::SIGHUP) };
            let counter = if rc == 0 {
                &counts.reloads
            } else {
                &counts.reload_errors
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    end_origin(&mut origin);
    result
}

fn end_origin(origin: &mut Origin) {
    end_child(&mut origin.child);
}

fn end_child(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Starts the origin, trying again for a few seconds: the port may still
/// be held by connections of the one just killed.
fn spawn_origin(s: &Schedule) -> Result<Origin, String> {
    let mut last_error = String::new();
    for _ in 0..20 {
        match spawn_origin_once(s) {
            Ok(origin) => return Ok(origin),
            Err(e) => last_error = e,
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(last_error)
}

/// Runs `tern-loadtest origin` (this binary) and waits for it to listen.
/// It is killed with this thread if the soak dies (PR_SET_PDEATHSIG), and
/// its pid is written to the pid file for the script's clean-up.
fn spawn_origin_once(s: &Schedule) -> Result<Origin, String> {
    let exe = std::env::current_exe().map_err(|e| format!("finding this binary: {e}"))?;
    let mut command = Command::new(exe);
    command
        .args([
            "origin",
            "--listen",
            &s.origin.to_string(),
            "--workers",
            "1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    // SAFETY: prctl is async-signal-safe and touches no memory of ours; it
    // runs in the child between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("starting the origin: {e}"))?;
    if let Some(path) = &s.pid_file {
        let _ = std::fs::write(path, format!("{}\n", child.id()));
    }
    let Some(stdout) = child.stdout.take() else {
        end_child(&mut child);
        return Err("the origin has no stdout".into());
    };
    let mut stdout = BufReader::new(stdout);
    let mut line = String::new();
    // Bounded: the line comes, or EOF when the child exits.
    let _ = stdout.read_line(&mut line);
    if !line.starts_with("listening on") {
        end_child(&mut child);
        return Err(format!("the origin did not start: {:?}", line.trim()));
    }
    Ok(Origin {
        child,
        _stdout: stdout,
    })
}
