//! The error log: timestamped lines on stderr or in a file, filtered by
//! level. Each line is written with one call, so lines from different
//! workers never mix; a worker queues its lines for the file instead of
//! waiting for it (`writer`, which writes the access log too), and the
//! other threads' lines wait at most a second for a pipe or socket that
//! takes nothing (`bounded`). Also the
//! reopen signal (SIGUSR1) the access log follows, and the time formats
//! both logs use.

mod bounded;
pub mod writer;

use std::fmt::Arguments;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use bounded::Bounded;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
/// The error log file, when not stderr. Written here, under a mutex, by
/// threads that are not workers (their lines are rare); workers queue
/// theirs on descriptors of their own (`writer`).
static ERROR_FILE: Mutex<Option<ErrorFile>> = Mutex::new(None);
/// Bumped by SIGUSR1: every log file is reopened (log rotation).
static REOPEN: AtomicU64 = AtomicU64::new(0);
/// Bumped after `ERROR_FILE` changes (reopened, or another file): the
/// workers' own descriptors for it (`writer`) are made again.
static ERROR_FILE_GENERATION: AtomicU64 = AtomicU64::new(0);

struct ErrorFile {
    path: PathBuf,
    /// As opened: what the workers' descriptors are copies of.
    file: File,
    /// How the other threads write to it.
    bounded: Bounded,
}

impl ErrorFile {
    fn open(path: &Path) -> std::io::Result<ErrorFile> {
        let file = open_append(path)?;
        Ok(ErrorFile {
            path: path.to_path_buf(),
            bounded: Bounded::new(&file)?,
            file,
        })
    }

    /// The same file opened again (a reload, SIGUSR1) is as stalled as it
    /// was: its lines don't each wait again.
    fn carry_stall(&mut self, old: &ErrorFile) {
        if self.path == old.path {
            self.bounded.carry_stall(&old.bounded);
        }
    }
}

/// Opens `path` for appending, creating it (mode 0640) if missing.
pub fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

/// Applies `[log] level` and `error`: `None` writes to stderr.
pub fn configure(level: Level, error_file: Option<&Path>) -> std::io::Result<()> {
    set_level(level);
    let mut file = match error_file {
        Some(path) => Some(ErrorFile::open(path)?),
        None => None,
    };
    if let Ok(mut slot) = ERROR_FILE.lock() {
        if let (Some(new), Some(old)) = (file.as_mut(), slot.as_ref()) {
            new.carry_stall(old);
        }
        *slot = file;
    }
    ERROR_FILE_GENERATION.fetch_add(1, Ordering::Release);
    Ok(())
}

/// SIGUSR1: reopens the error log now, and tells the workers to reopen
/// their access logs at their next tick.
pub fn reopen() {
    REOPEN.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut slot) = ERROR_FILE.lock() {
        if let Some(current) = slot.as_mut() {
            match ErrorFile::open(&current.path) {
                Ok(mut reopened) => {
                    reopened.carry_stall(current);
                    *current = reopened;
                }
                Err(err) => {
                    let line = format!("tern: cannot reopen {}: {err}\n", current.path.display());
                    stderr_line(&line);
                }
            }
        }
    }
    ERROR_FILE_GENERATION.fetch_add(1, Ordering::Release);
}

/// The generation of the error log file, and a descriptor of its own for
/// it, or for stderr where `stream_copy` queues it; `None`: written in
/// place.
fn error_file_copy() -> (u64, Option<File>) {
    let Ok(slot) = ERROR_FILE.lock() else {
        return (error_file_generation(), None);
    };
    let generation = ERROR_FILE_GENERATION.load(Ordering::Acquire);
    let copy = match slot.as_ref() {
        Some(current) => current.file.try_clone().ok(),
        None => stream_copy(&std::io::stderr()),
    };
    (generation, copy)
}

/// A descriptor of its own for standard output or error when a worker
/// should queue its lines for it rather than write them in place: a pipe
/// or a socket (journald's streams, `| logger`), whose reader may stop
/// reading, or a file opened to append (`>>`). A terminal, or a file opened
/// with `>` (no O_APPEND: the ring's write at offset 0 would overwrite it),
/// is written in place.
pub fn stream_copy(stream: &impl AsFd) -> Option<File> {
    let fd = stream.as_fd();
    let queued = match stream_kind(fd.as_raw_fd())? {
        libc::S_IFIFO | libc::S_IFSOCK => true,
        libc::S_IFREG => {
            // SAFETY: F_GETFL only reads the descriptor's flags.
            let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
            flags >= 0 && flags & libc::O_APPEND != 0
        }
        _ => false,
    };
    match queued {
        true => Some(File::from(fd.try_clone_to_owned().ok()?)),
        false => None,
    }
}

/// Whether `file` is a pipe or a socket.
fn is_stream(file: &File) -> bool {
    matches!(
        stream_kind(file.as_raw_fd()),
        Some(libc::S_IFIFO | libc::S_IFSOCK)
    )
}

/// What `fd` is (`S_IFIFO`, `S_IFSOCK`, `S_IFREG`...), `None` if fstat fails.
fn stream_kind(fd: RawFd) -> Option<libc::mode_t> {
    // SAFETY: a zeroed stat is a valid value for fstat to fill.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes only into `stat`; a closed `fd` is an error.
    let done = unsafe { libc::fstat(fd, &mut stat) };
    (done == 0).then_some(stat.st_mode & libc::S_IFMT)
}

fn error_file_generation() -> u64 {
    ERROR_FILE_GENERATION.load(Ordering::Acquire)
}

pub fn reopen_generation() -> u64 {
    REOPEN.load(Ordering::Relaxed)
}

/// Sets the most detailed level that is written.
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

pub fn write(level: Level, args: Arguments) {
    if !enabled(level) {
        return;
    }
    let name = match level {
        Level::Error => "error",
        Level::Warn => "warn",
        Level::Info => "info",
        Level::Debug => "debug",
    };
    let line = format!("{} tern {name}: {args}\n", utc_timestamp());
    if writer::queue_error_line(&line) {
        return;
    }
    if let Ok(slot) = ERROR_FILE.lock() {
        if let Some(current) = slot.as_ref() {
            return current.bounded.write_line(&line);
        }
    }
    stderr_line(&line);
}

/// Writes `line` (newline included) to stderr from a thread that is not a
/// worker: at most a second's wait for a pipe or socket that takes nothing.
pub fn stderr_line(line: &str) {
    match bounded::stderr() {
        Some(stderr) => stderr.write_line(line),
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

pub fn error(args: Arguments) {
    write(Level::Error, args)
}
pub fn warn(args: Arguments) {
    write(Level::Warn, args)
}
pub fn info(args: Arguments) {
    write(Level::Info, args)
}
pub fn debug(args: Arguments) {
    write(Level::Debug, args)
}

/// `2026-11-21T20:56:25Z`, computed without a date crate (civil-from-days).
fn utc_timestamp() -> String {
    rfc3339(SystemTime::now())
}

/// `2026-11-21T20:56:25Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let (year, month, day, h, m, s) = civil(time);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

/// The Common Log Format's `21/Nov/2026:20:56:25 +0000`.
pub fn clf_time(time: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (year, month, day, h, m, s) = civil(time);
    let name = MONTHS[(month as usize).clamp(1, 12) - 1];
    format!("{day:02}/{name}/{year:04}:{h:02}:{m:02}:{s:02} +0000")
}

fn civil(time: SystemTime) -> (i64, u32, u32, u64, u64, u64) {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    (year, month, day, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Howard Hinnant's days-to-date algorithm for the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_days_to_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_413), (2025, 11, 21));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
