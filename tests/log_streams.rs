//! The logs on standard output and error, as a service manager hands them
//! over: a pipe or a socket (journald's streams) whose reader may stop
//! reading, or a file the shell opened (`>` or `>>`). A stalled reader
//! never stops the workers, nor the main thread's reloads and stop; lines
//! from several workers arrive whole; a file opened with `>` gets every
//! line.

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::fifo::Fifo;
use common::*;

/// tern started by hand with the standard streams a test gives it, on a
/// port chosen in advance (its stderr may not be read to learn one).
struct Spawned {
    child: Child,
    addr: SocketAddr,
    _config: TempFile,
    _upstream: RecordingUpstream,
}

impl Spawned {
    fn start(log: &str, stdout: Stdio, stderr: Stdio) -> Spawned {
        let up = RecordingUpstream::echo();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let toml = format!(
            "[server]\nworkers = 2\n[log]\n{log}\n[[listener]]\nbind = \"{addr}\"\n\
             [[route]]\npath_prefix = \"/api\"\nbackend = \"app\"\n\
             [[route]]\npath_prefix = \"/health\"\nrespond = {{ status = 200, body = \"ok\" }}\n\
             [backend.app]\nservers = [\"{}\"]\n",
            up.addr
        );
        let config = TempFile::new("tern.toml", &toml);
        let child = Command::new(bin())
            .arg("--config")
            .arg(&config.path)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("spawn tern");
        let listening = wait_until(Duration::from_secs(10), || {
            std::net::TcpStream::connect(addr).is_ok()
        });
        assert!(listening, "tern did not listen on {addr}");
        Spawned {
            child,
            addr,
            _config: config,
            _upstream: up,
        }
    }

    fn connect(&self) -> Conn {
        let conn = Conn::connect(self.addr);
        conn.set_read_timeout(Duration::from_secs(3));
        conn
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on the pid of a child this test started.
        let sent = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(sent, 0, "kill");
    }

    fn health(&self) -> u16 {
        self.connect()
            .roundtrip(b"GET /health HTTP/1.1\r\nHost: h\r\n\r\n")
            .status
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A target long enough that `n` lines are several times what a pipe or
/// a socket holds.
fn long_target(i: usize) -> String {
    format!("/api/{i:04}/{}", "x".repeat(1000))
}

/// `n` requests with long targets on one connection, each answered.
fn send_long_requests(tern: &Spawned, n: usize) {
    let mut c = tern.connect();
    for i in 0..n {
        let req = format!("GET {} HTTP/1.1\r\nHost: h\r\n\r\n", long_target(i));
        assert_eq!(c.roundtrip(req.as_bytes()).status, 200, "request {i}");
    }
}

/// Whether every long target below `n` is in `text`, in order.
fn all_in_order(text: &str, n: usize) -> bool {
    let mut from = 0;
    (0..n).all(|i| match text[from..].find(&long_target(i)) {
        Some(at) => {
            from += at;
            true
        }
        None => false,
    })
}

#[test]
fn an_access_log_on_a_socket_nobody_reads_never_stops_the_workers() {
    // journald hands a service a stream socket as its stdout.
    let (theirs, mut ours) = UnixStream::pair().expect("socketpair");
    let tern = Spawned::start(
        "access = \"stdout\"",
        Stdio::from(std::os::fd::OwnedFd::from(theirs)),
        Stdio::null(),
    );
    // 1,000 lines of 1 KiB: several times what the socket holds.
    send_long_requests(&tern, 1000);
    assert_eq!(tern.health(), 200);
    // Read now: every line arrives, whole and in order.
    ours.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut read = Vec::new();
    let complete = wait_until(Duration::from_secs(10), || {
        let mut chunk = [0u8; 65536];
        while let Ok(n @ 1..) = ours.read(&mut chunk) {
            read.extend_from_slice(&chunk[..n]);
        }
        read.iter().filter(|&&b| b == b'\n').count() >= 1001
    });
    let text = String::from_utf8_lossy(&read);
    assert!(complete, "{} lines read", text.lines().count());
    assert!(all_in_order(&text, 1000), "lines missing or out of order");
}

#[test]
fn an_error_log_on_a_stderr_nobody_reads_never_stops_the_workers() {
    let mut fifo = Fifo::new("log-stderr");
    let tern = Spawned::start(
        "level = \"debug\"",
        Stdio::null(),
        Stdio::from(fifo.writing_end()),
    );
    send_refused_requests(tern.addr);
    assert_eq!(tern.health(), 200);
    let all = fifo.read_until(Duration::from_secs(10), |log| {
        String::from_utf8_lossy(log).matches(" 505").count() >= 2000
    });
    assert!(all, "{} lines read", fifo.text().lines().count());
}

#[test]
fn an_access_log_on_stdout_redirected_to_a_file_keeps_every_line() {
    for append in [false, true] {
        let dir = TempDir::new("log-stdout-file");
        let path = dir.join("out.log");
        // `>` (no O_APPEND) and `>>`: the shell's two ways.
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .open(&path)
            .expect("stdout file");
        let tern = Spawned::start("access = \"stdout\"", Stdio::from(file), Stdio::null());
        send_long_requests(&tern, 200);
        let complete = wait_until(Duration::from_secs(10), || {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            all_in_order(&text, 200)
        });
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            complete,
            "append {append}: {} lines, {} bytes",
            text.lines().count(),
            text.len()
        );
    }
}

#[test]
fn reloads_and_a_stop_are_not_held_up_by_a_stderr_pipe_nobody_reads() {
    let fifo = Fifo::new("log-stderr-stop");
    reloads_and_a_stop_with(Stdio::from(fifo.writing_end()));
    drop(fifo);
}

#[test]
fn reloads_and_a_stop_are_not_held_up_by_a_stderr_socket_nobody_reads() {
    let (theirs, ours) = UnixStream::pair().expect("socketpair");
    reloads_and_a_stop_with(Stdio::from(std::os::fd::OwnedFd::from(theirs)));
    drop(ours);
}

/// The workers' debug lines fill `stderr` (whose reader takes nothing);
/// then the main thread has lines of its own to write: a line per reload
/// (100 of them are more than the room a full pipe's last page has left),
/// stopping, stopped. Each reload and the stop still happen.
fn reloads_and_a_stop_with(stderr: Stdio) {
    let mut tern = Spawned::start("level = \"debug\"", Stdio::null(), stderr);
    send_refused_requests(tern.addr);
    for _ in 0..100 {
        tern.signal(libc::SIGHUP);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(tern.health(), 200);
    tern.signal(libc::SIGTERM);
    let exited = wait_until(Duration::from_secs(20), || {
        tern.child.try_wait().ok().flatten().is_some()
    });
    assert!(exited, "tern did not stop");
}

#[test]
fn lines_from_several_workers_to_one_pipe_arrive_whole() {
    let mut fifo = Fifo::new("log-stdout-shared");
    let tern = Spawned::start(
        "access = \"stdout\"",
        Stdio::from(fifo.writing_end()),
        Stdio::null(),
    );
    // Four clients at once (the connections spread over both workers),
    // their lines waiting for the pipe: once it is read, both workers'
    // writes land in it together.
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| send_long_requests(&tern, 200));
        }
    });
    let complete = fifo.read_until(Duration::from_secs(10), |log| {
        log.iter().filter(|&&b| b == b'\n').count() >= 800
    });
    let text = fifo.text();
    assert!(complete, "{} lines read", text.lines().count());
    let torn: Vec<&str> = text
        .lines()
        .filter(|line| !line.starts_with("127.0.0.1 ") || line.matches("\"GET /api/").count() != 1)
        .collect();
    assert!(torn.is_empty(), "{} torn lines: {:.300?}", torn.len(), torn);
}
