//! The file threads: a few plain threads that do for the workers what can
//! wait on a disk or a network filesystem and their driver can't take
//! (opening beneath a root and listing a directory, `opener.rs`; reading
//! under the epoll driver, `disk.rs`; looking at a network root's path
//! again, `root.rs`).
//!
//! Shared by all workers, started when first needed (a server whose names
//! stay cached never starts one), they take tasks from one queue. Bounded
//! both ways: at most `THREADS` threads (a hung network filesystem holds
//! four threads, not thousands) and `QUEUED` tasks waiting; the callers
//! decide what a refusal means.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};

/// File threads at most, for the whole process.
const THREADS: usize = 4;
/// Tasks waiting for a thread at most.
pub const QUEUED: usize = 128;

pub type Task = Box<dyn FnOnce() + Send>;

/// Why a task was not queued.
pub enum Refused {
    QueueFull,
    /// Not one thread could be started: the task comes back, to be run in
    /// place.
    NoThread(Task),
}

static POOL: OnceLock<Pool> = OnceLock::new();
/// Set once a thread could not be started and none was running (logged).
static NO_THREAD_SAID: AtomicBool = AtomicBool::new(false);

/// Queues `task` for a file thread, starting one if none is free.
pub fn submit(task: Task) -> Result<(), Refused> {
    POOL.get_or_init(|| Pool {
        state: Mutex::new(PoolState::default()),
        wake: Condvar::new(),
    })
    .submit(task)
}

struct Pool {
    state: Mutex<PoolState>,
    wake: Condvar,
}

#[derive(Default)]
struct PoolState {
    tasks: VecDeque<Task>,
    threads: usize,
    idle: usize,
}

impl Pool {
    fn submit(&'static self, task: Task) -> Result<(), Refused> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.tasks.len() >= QUEUED {
            return Err(Refused::QueueFull);
        }
        state.tasks.push_back(task);
        if state.tasks.len() > state.idle && state.threads < THREADS {
            let started = std::thread::Builder::new()
                .name("tern-files".into())
                .spawn(move || self.serve());
            match started {
                Ok(_) => state.threads += 1,
                Err(err) if state.threads == 0 => {
                    // Every task then runs in place: said once, not per task.
                    if !NO_THREAD_SAID.swap(true, Ordering::Relaxed) {
                        crate::log::warn(format_args!(
                            "can't start a file thread ({err}): what they would do runs on the workers"
                        ));
                    }
                    if let Some(task) = state.tasks.pop_back() {
                        return Err(Refused::NoThread(task));
                    }
                }
                Err(_) => {}
            }
        }
        drop(state);
        self.wake.notify_one();
        Ok(())
    }

    /// A file thread's life: the next task, or sleep until there is one.
    fn serve(&self) {
        loop {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let task = loop {
                if let Some(task) = state.tasks.pop_front() {
                    break task;
                }
                state.idle += 1;
                state = self
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                state.idle -= 1;
            };
            drop(state);
            // A task that panicked must not take the thread with it.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(task)).is_err() {
                crate::log::error(format_args!("a file thread's task panicked"));
            }
        }
    }
}
