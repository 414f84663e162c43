//! The long-poll child processes, seen from the parent: spawning them,
//! their stdout lines merged into one channel, and telling them to go.
//!
//! Children exist because one process may hold at most 20,000 files; with
//! P processes the client side scales past that, up to the proxy's limit.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Instant;

/// A line from child `index`, or `None` when its stdout closed.
pub type Line = (usize, Option<String>);

pub struct Children {
    procs: Vec<Child>,
    stdins: Vec<Option<ChildStdin>>,
    lines: Receiver<Line>,
}

impl Children {
    /// Starts one child per argument list (`tern-loadtest __longpoll-worker ...`).
    pub fn spawn(arg_lists: Vec<Vec<String>>) -> Result<Children, String> {
        let exe = std::env::current_exe().map_err(|e| format!("finding own executable: {e}"))?;
        let (tx, lines) = mpsc::channel();
        let mut children = Children {
            procs: Vec::new(),
            stdins: Vec::new(),
            lines,
        };
        for (index, args) in arg_lists.into_iter().enumerate() {
            let mut child = Command::new(&exe)
                .arg("__longpoll-worker")
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .map_err(|e| format!("spawning worker process: {e}"))?;
            let stdout = child.stdout.take();
            children.stdins.push(child.stdin.take());
            children.procs.push(child);
            let tx = tx.clone();
            std::thread::spawn(move || {
                if let Some(out) = stdout {
                    for line in BufReader::new(out).lines().map_while(Result::ok) {
                        let _ = tx.send((index, Some(line)));
                    }
                }
                let _ = tx.send((index, None));
            });
        }
        Ok(children)
    }

    /// The next line from any child, or `None` once `deadline` passes.
    pub fn next_line(&self, deadline: Instant) -> Option<Line> {
        let wait = deadline.saturating_duration_since(Instant::now());
        // Timeout and "all children gone" both mean: nothing more to read.
        self.lines.recv_timeout(wait).ok()
    }

    /// Sends `line` to every child still listening.
    pub fn tell_all(&mut self, line: &str) {
        for stdin in self.stdins.iter_mut() {
            if let Some(s) = stdin {
                if writeln!(s, "{line}").and_then(|_| s.flush()).is_err() {
                    *stdin = None;
                }
            }
        }
    }

    /// Ends the children: they have normally exited already; any that
    /// hasn't by now is stuck and is killed (it is our own child, by handle).
    pub fn reap(&mut self) {
        self.stdins.clear();
        let grace = Instant::now() + std::time::Duration::from_secs(2);
        for child in &mut self.procs {
            while Instant::now() < grace && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.reap();
    }
}
