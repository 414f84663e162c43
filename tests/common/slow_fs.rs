//! A disk that is slow to give: `tests/slow_fs.py` (a FUSE filesystem whose
//! reads, lookups or listings wait), mounted for a test and unmounted when
//! it ends.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{get, wait_until, Response, TempDir, Tern};

/// Each read of the slow filesystem waits this long: far more than a
/// worker that is free needs to answer, so "answered before the read
/// ended" can only fail if the worker waited for the read.
const READ_DELAY: &str = "3";

/// The mounted slow filesystem; unmounted and stopped when dropped.
pub struct SlowFs {
    pub mount: PathBuf,
    log: PathBuf,
    daemon: Child,
    _dir: TempDir,
}

impl SlowFs {
    pub fn mount() -> SlowFs {
        SlowFs::mount_waiting(READ_DELAY)
    }

    /// Each slow read or lookup waits `delay` seconds.
    pub fn mount_waiting(delay: &str) -> SlowFs {
        let dir = TempDir::new("slowfs");
        dir.mkdir("mnt");
        let (mount, log) = (dir.join("mnt"), dir.join("reads.log"));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slow_fs.py");
        let daemon = Command::new("python3")
            .arg(&script)
            .args([mount.as_os_str(), delay.as_ref(), log.as_os_str()])
            .stdout(Stdio::null())
            .spawn()
            .expect("python3 runs tests/slow_fs.py");
        let fs = SlowFs {
            mount,
            log,
            daemon,
            _dir: dir,
        };
        let ready = wait_until(Duration::from_secs(10), || fs.reads().contains("ready"));
        assert!(
            ready,
            "tests/slow_fs.py did not mount (fusepy, libfuse2, /dev/fuse?)"
        );
        fs
    }

    /// The read log so far: "begin N" and "end N" lines.
    pub fn reads(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for SlowFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

impl SlowFs {
    /// Sends `request` on a client of its own and returns its response, after
    /// checking that another client was answered while the slow filesystem
    /// made tern `wait` for it.
    pub fn answered_after(&self, tern: &Tern, request: &[u8], wait: &str) -> Response {
        let mut waiting = tern.connect();
        waiting.set_read_timeout(Duration::from_secs(30));
        waiting.send(request);
        self.other_client_answered_during(tern, wait);
        waiting
            .read_response()
            .expect("the slow request's response")
    }

    /// Once the slow filesystem has begun a `wait` ("read" or "lookup") for
    /// tern, another client of the same worker is answered before it ends.
    pub fn other_client_answered_during(&self, tern: &Tern, wait: &str) {
        // A read logs "begin OFFSET", a lookup "begin lookup NAME", a listing
        // "begin readdir NAME".
        let (begin, end) = match wait {
            "lookup" => ("begin lookup", "end lookup"),
            "listing" => ("begin readdir", "end readdir"),
            _ => ("begin", "end"),
        };
        let began = wait_until(Duration::from_secs(10), || self.reads().contains(begin));
        assert!(began, "tern never began a slow {wait}");

        let mut other = tern.connect();
        other.set_read_timeout(Duration::from_secs(30));
        assert_eq!(other.roundtrip(&get("/fast/fast.txt")).body, b"fast");
        let reads = self.reads();
        assert!(
            !reads.contains(end),
            "the other client was answered only after the slow {wait} ended:\n{reads}"
        );
    }
}
