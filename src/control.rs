//! The control plane: one inbox, read by the main thread alone, for every
//! request to reload, stop or re-read something. Signals reach it through a
//! forwarding thread (`server`): SIGHUP, SIGTERM/SIGINT, SIGQUIT, SIGUSR1.
//! The rest of tern asks directly: `POST /reload` on the admin endpoint
//! (which waits for the outcome), the discovery thread when a DNS answer
//! changed, a worker that died, an upgrade that handed its sockets over.
//! One owner, one order: two reloads never run at once.
//!
//! From outside the process: `tern --reload --config FILE` signals the
//! process named in `[server] pid_file` (nginx's `-s reload`), as does
//! `kill -HUP PID`.

use std::path::Path;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::OnceLock;

/// A reload's summary, or why it was refused.
pub type Outcome = Result<String, String>;

/// What the main thread is asked to do.
#[derive(Debug)]
pub enum Request {
    /// Drain and stop: SIGTERM/SIGINT, a hand-over to a new process, a
    /// worker that died.
    Stop,
    /// Stop at once: SIGQUIT.
    Quit,
    /// Reload the configuration file; the outcome goes to the requester,
    /// if one waits (`POST /reload`).
    Reload(Option<Sender<Outcome>>),
    /// Reopen the log files: SIGUSR1 (log rotation).
    ReopenLogs,
    /// A DNS answer changed: apply it (the discovery thread).
    Discovered,
}

static INBOX: OnceLock<Sender<Request>> = OnceLock::new();

/// Opens the inbox for the main thread; `None` if it was opened before.
pub fn open() -> Option<Receiver<Request>> {
    let (tx, rx) = mpsc::channel();
    INBOX.set(tx).ok()?;
    Some(rx)
}

/// Asks the main thread for `request`; `false` when no main thread listens
/// (not running as a server).
pub fn ask(request: Request) -> bool {
    INBOX.get().is_some_and(|inbox| inbox.send(request).is_ok())
}

/// Asks for a reload; its outcome arrives on the receiver.
pub fn reload() -> Receiver<Outcome> {
    let (tx, rx) = mpsc::channel();
    ask(Request::Reload(Some(tx)));
    rx
}

/// `tern --reload`: the pid in `pid_file`, signalled with SIGHUP.
pub fn signal_running(pid_file: &Path) -> Result<i32, String> {
    signal_pid_file(pid_file, libc::SIGHUP)
}

/// `tern -s reload|quit|stop`: the pid in `pid_file`, sent `signal`.
pub fn signal_pid_file(pid_file: &Path, signal: libc::c_int) -> Result<i32, String> {
    let pid = read_pid(pid_file)?;
    // SAFETY: kill with a pid read from the pid file and a valid signal.
    let rc = unsafe { libc::kill(pid, signal) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        return Err(format!(
            "cannot signal pid {pid} (from {}): {err}",
            pid_file.display()
        ));
    }
    Ok(pid)
}

pub fn read_pid(pid_file: &Path) -> Result<i32, String> {
    let text = std::fs::read_to_string(pid_file)
        .map_err(|err| format!("cannot read the pid file {}: {err}", pid_file.display()))?;
    match text.trim().parse::<i32>() {
        Ok(pid) if pid > 1 => Ok(pid),
        _ => Err(format!(
            "{} does not hold a process id: {:?}",
            pid_file.display(),
            text.trim()
        )),
    }
}

/// Writes this process's pid; removed again by the returned guard.
pub fn write_pid(pid_file: &Path) -> Result<PidFile, String> {
    std::fs::write(pid_file, format!("{}\n", std::process::id()))
        .map_err(|err| format!("cannot write the pid file {}: {err}", pid_file.display()))?;
    Ok(PidFile(pid_file.to_owned()))
}

/// Removes the pid file when the process stops, unless another process
/// (the one an upgrade started) wrote its pid there since.
pub struct PidFile(std::path::PathBuf);

impl Drop for PidFile {
    fn drop(&mut self) {
        remove_pid_file(&self.0);
    }
}

/// Removes `pid_file` if it holds this process's pid. Also on a stop at
/// once (SIGQUIT), which skips the guard: a pid file left behind names a
/// pid the system may give another process, which `tern -s` would signal.
pub fn remove_pid_file(pid_file: &Path) {
    if read_pid(pid_file).ok() == i32::try_from(std::process::id()).ok() {
        let _ = std::fs::remove_file(pid_file);
    }
}
