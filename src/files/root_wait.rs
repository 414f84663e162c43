//! Opening a static root without waiting on it without bound. A root is
//! opened on the main thread (at start, by `--check`, on a reload, when a
//! DNS change rebuilds the plan), and a root on a network filesystem whose
//! server is gone (a hard NFS mount) can hold a `stat` forever: the main
//! thread would then take no more signals, stops or reloads. So a thread
//! of its own opens the root, and the configuration is refused, naming it,
//! if it has not answered within `ROOT_WAIT`. The thread is left to its
//! look (nothing can end a wait in the kernel); while it lasts, that root
//! is refused at once (`STUCK`), so a filesystem that stays gone holds one
//! thread per root, not one per attempt.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::root::Root;

/// How long opening a root may take: a local or answering network
/// filesystem takes milliseconds.
pub const ROOT_WAIT: Duration = Duration::from_secs(5);

/// Roots whose opening outlasted its wait and has not ended yet.
static STUCK: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Where one opening stands, between its thread and whoever waits for it.
#[derive(PartialEq)]
enum Opening {
    UnderWay,
    /// Its wait ran out: the path is in `STUCK` until the thread ends.
    GivenUp,
}

/// Opens the directory `path` names, within `wait`; the error is for a
/// config message.
pub fn open_within(path: &str, wait: Duration) -> Result<Root, String> {
    if lock(&STUCK).iter().any(|stuck| stuck == path) {
        return Err(format!(
            "{path:?}: a look at it begun earlier has not come back yet (a network filesystem \
             that does not answer?)"
        ));
    }
    let opening = Arc::new(Mutex::new(Opening::UnderWay));
    let (done, opened) = mpsc::sync_channel(1);
    let (owned, theirs) = (path.to_owned(), Arc::clone(&opening));
    let spawned = std::thread::Builder::new()
        .name("tern-root".into())
        .spawn(move || {
            let result = open_dir(&owned);
            // Under the lock, so that the waiter either finds the answer
            // or has marked the path stuck before this looks.
            let state = lock(&theirs);
            if *state == Opening::GivenUp {
                lock(&STUCK).retain(|stuck| *stuck != owned);
            }
            let _ = done.send(result);
            drop(state);
        });
    if spawned.is_err() {
        return open_dir(path);
    }
    match opened.recv_timeout(wait) {
        Ok(result) => result,
        Err(RecvTimeoutError::Timeout) => {
            let mut state = lock(&opening);
            // Ended since: its answer is there after all.
            if let Ok(result) = opened.try_recv() {
                return result;
            }
            *state = Opening::GivenUp;
            lock(&STUCK).push(path.to_owned());
            Err(format!(
                "{path:?} did not answer within {} s (a network filesystem that does not \
                 answer?)",
                wait.as_secs_f32()
            ))
        }
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
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

    #[test]
    fn the_same_root_opened_at_once_by_two_threads_opens_for_both() {
        let dir = std::env::temp_dir();
        let dir = dir.to_str().expect("utf-8 temp dir").to_owned();
        let other = dir.clone();
        let beside =
            std::thread::spawn(move || (0..50).all(|_| open_within(&other, ROOT_WAIT).is_ok()));
        assert!((0..50).all(|_| open_within(&dir, ROOT_WAIT).is_ok()));
        assert!(beside.join().expect("thread"));
    }
}
