//! A FIFO for tern to log to, its reading end held open (non-blocking)
//! and read only when the test says: until then, once the pipe's 64 KiB
//! are full, every write to it waits, as to a file system that stalled.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::Duration;

pub struct Fifo {
    pub path: PathBuf,
    /// The directory the FIFO is made in, removed with it.
    _dir: super::TempDir,
    reader: std::fs::File,
    /// Everything read so far.
    pub read: Vec<u8>,
}

impl Fifo {
    /// Makes the FIFO in a temp directory named after `tag` and opens its
    /// reading end, so that tern's opens for writing never wait for a
    /// reader.
    pub fn new(tag: &str) -> Fifo {
        let dir = super::TempDir::new(tag);
        let path = dir.join("log.fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        let reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .expect("open the FIFO to read");
        Fifo {
            path,
            _dir: dir,
            reader,
            read: Vec::new(),
        }
    }

    /// Reads until `enough` holds for what was read, for at most `limit`;
    /// returns whether it did.
    pub fn read_until(&mut self, limit: Duration, enough: impl Fn(&[u8]) -> bool) -> bool {
        super::wait_until(limit, || {
            let mut chunk = [0u8; 65536];
            while let Ok(n @ 1..) = self.reader.read(&mut chunk) {
                self.read.extend_from_slice(&chunk[..n]);
            }
            enough(&self.read)
        })
    }

    /// A writing end, to hand to tern as its stdout or stderr.
    pub fn writing_end(&self) -> std::fs::File {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&self.path)
            .expect("the FIFO's writing end")
    }

    /// The lines read so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.read).into_owned()
    }
}
