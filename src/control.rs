//! Asking a running tern to reload or stop (the control requests below the
//! admin endpoint and the command line). Every reload ends in SIGHUP to the main
//! thread, which does the reload (one place, one thread):
//! - `kill -HUP PID`;
//! - `tern --reload --config FILE`: checks FILE, then signals the process
//!   named in `[server] pid_file` (nginx's `-s reload`);
//! - `POST /reload` on the admin endpoint, which waits for the outcome.

use std::path::Path;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;

type Outcome = Result<String, String>;

/// Admin requests waiting for the next reload's outcome.
static WAITING: Mutex<Vec<Sender<Outcome>>> = Mutex::new(Vec::new());

/// Asks this process to reload; the outcome arrives on the receiver.
pub fn request() -> Receiver<Outcome> {
    let (tx, rx) = mpsc::channel();
    if let Ok(mut waiting) = WAITING.lock() {
        waiting.push(tx);
    }
    // SAFETY: signalling our own process; the main thread takes SIGHUP with
    // sigwait (every thread blocks it).
    unsafe {
        libc::kill(libc::getpid(), libc::SIGHUP);
    }
    rx
}

/// Tells every waiting requester how the reload went.
pub fn answer(outcome: &Outcome) {
    let waiting = match WAITING.lock() {
        Ok(mut waiting) => std::mem::take(&mut *waiting),
        Err(_) => return,
    };
    for requester in waiting {
        let _ = requester.send(outcome.clone());
    }
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
        if read_pid(&self.0).ok() == i32::try_from(std::process::id()).ok() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}
