//! Opening a static root without waiting on it without bound. A root is
//! opened on the main thread (at start, by `--check`, on a reload, when a
//! DNS change rebuilds the plan), and a root on a network filesystem whose
//! server is gone (a hard NFS mount) can hold a `stat` forever: the main
//! thread would then take no more signals, stops or reloads. So a thread
//! of its own opens the root, and the configuration is refused, naming it,
//! if it has not answered within `ROOT_WAIT`. The thread is left to its
//! look (nothing can end a wait in the kernel); while it lasts, that root
//! is refused at once, so a filesystem that stays gone holds one thread
//! per root, not one per attempt.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::root::Root;

/// How long opening a root may take: a local or answering network
/// filesystem takes milliseconds.
pub const ROOT_WAIT: Duration = Duration::from_secs(5);

/// Roots whose opening outlasted its wait and has not ended yet.
static STILL_OPENING: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Opens the directory `path` names, within `wait`; the error is for a
/// config message.
pub fn open_within(path: &str, wait: Duration) -> Result<Root, String> {
    if !begin(path) {
        return Err(format!(
            "{path:?}: a look at it begun earlier has not come back yet (a network filesystem \
             that does not answer?)"
        ));
    }
    let (done, opened) = mpsc::sync_channel(1);
    let owned = path.to_owned();
    let spawned = std::thread::Builder::new()
        .name("tern-root".into())
        .spawn(move || {
            let result = open_dir(&owned);
            end(&owned);
            let _ = done.send(result);
        });
    if spawned.is_err() {
        end(path);
        return open_dir(path);
    }
    match opened.recv_timeout(wait) {
        Ok(result) => result,
        Err(RecvTimeoutError::Timeout) => Err(format!(
            "{path:?} did not answer within {} s (a network filesystem that does not answer?)",
            wait.as_secs_f32()
        )),
        Err(RecvTimeoutError::Disconnected) => Err(format!("{path:?}: looking at it failed")),
    }
}

fn open_dir(path: &str) -> Result<Root, String> {
    let meta = std::fs::metadata(path).map_err(|err| format!("{path:?}: {err}"))?;
    if !meta.is_dir() {
        return Err(format!("{path:?} is not a directory"));
    }
    Root::open(path)
}

/// Marks `path` as being opened; false if it already was.
fn begin(path: &str) -> bool {
    let mut opening = STILL_OPENING.lock().unwrap_or_else(PoisonError::into_inner);
    if opening.iter().any(|p| p == path) {
        return false;
    }
    opening.push(path.to_owned());
    true
}

fn end(path: &str) {
    let mut opening = STILL_OPENING.lock().unwrap_or_else(PoisonError::into_inner);
    opening.retain(|p| p != path);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_directory_opens_and_a_file_or_nothing_is_refused_by_name() {
        let dir = std::env::temp_dir();
        let dir = dir.to_str().expect("utf-8 temp dir");
        assert!(open_within(dir, ROOT_WAIT).is_ok());
        let missing = format!("{dir}/tern-no-such-root-{}", std::process::id());
        let err = open_within(&missing, ROOT_WAIT).expect_err("missing");
        assert!(err.contains(&missing), "{err}");
        let file = format!("{dir}/tern-root-file-{}", std::process::id());
        std::fs::write(&file, b"x").expect("write");
        let err = open_within(&file, ROOT_WAIT).expect_err("a file");
        let _ = std::fs::remove_file(&file);
        assert!(err.ends_with("is not a directory"), "{err}");
    }
}
