//! Test harness for the tern integration tests.
//!
//! * [`Tern`] starts the real binary on a generated config (listening on
//!   `127.0.0.1:0`), waits for the ` started:` line on stderr and kills the
//!   process on drop.
//! * [`Cfg`] renders configs with short timeouts suited for tests.
//! * [`RecordingUpstream`] is a thread-per-connection upstream on
//!   `127.0.0.1:0` that records every byte it receives, per connection, and
//!   answers according to a closure given by the test.
//! * [`Conn`] is a buffered blocking socket used by both sides: it parses
//!   HTTP/1.1 requests and responses and WebSocket frames.
//! * [`raw_request`] writes raw bytes and reads until EOF.
//!
//! Everything is std only, blocking sockets with read timeouts, and every
//! loop is bounded in time.

#![allow(dead_code)]

pub mod chromium;
pub mod codings;
pub mod dns;
pub mod fifo;
pub mod pebble;
pub mod routing;
pub mod slow_fs;
pub mod tls_client;
pub mod traffic;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Path of the binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_tern");

/// The binary to run: `TERN_TEST_BIN` if set (e.g. to check that the suite
/// catches a deliberately broken build), else the one cargo built.
pub fn bin() -> String {
    std::env::var("TERN_TEST_BIN").unwrap_or_else(|_| BIN.to_string())
}

/// Default read timeout for client sockets.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A file in the temp dir, removed on drop.
pub struct TempFile {
    pub path: PathBuf,
}

impl TempFile {
    /// Creates `<tmp>/tern-test-<pid>-<n>/<name>` with `contents`.
    pub fn new(name: &str, contents: &str) -> TempFile {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("tern-test-{}-{}", std::process::id(), n));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        let path = dir.join(name);
        std::fs::write(&path, contents).expect("write temp file");
        TempFile { path }
    }

    pub fn path_str(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// A fresh directory `<tmp>/tern-<tag>-<pid>-<n>`, removed with all it
/// holds on drop, so a test that fails leaves nothing behind either.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("tern-{tag}-{}-{n}", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    /// `name` inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes `contents` at `rel` (parents created).
    pub fn write(&self, rel: &str, contents: &[u8]) -> PathBuf {
        let path = self.path.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&path, contents).expect("write file");
        path
    }

    pub fn mkdir(&self, rel: &str) {
        std::fs::create_dir_all(self.path.join(rel)).expect("mkdir");
    }

    pub fn symlink(&self, target: &Path, rel: &str) {
        std::os::unix::fs::symlink(target, self.path.join(rel)).expect("symlink");
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Polls `cond` every 10 ms until it is true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// An address on which nothing listens (bind a port, then drop the listener).
/// A port that is free now, for a server started later (tern itself, a
/// CA) that must be told its port up front. Drawn below the kernel's
/// ephemeral range (32768-60999), so no test's `bind(":0")` listener or
/// outgoing connection can take it in the meantime, as happened with a port
/// from `bind(":0")` that was dropped and reused by a parallel test.
pub fn free_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let seed = std::process::id() as usize * 7919 + NEXT.fetch_add(1, Ordering::Relaxed) * 104_729;
    for attempt in 0..1000 {
        let port = 20_000 + (seed + attempt * 7_417) % 12_000;
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port as u16)) {
            drop(listener);
            return port as u16;
        }
    }
    panic!("no free port between 20000 and 32000");
}

pub fn dead_addr() -> SocketAddr {
    // Bound but never listening, and kept for the life of the test
    // process: a connect is refused, and no other test's listener can take
    // the port meanwhile (a dropped listener's port could be reused by a
    // parallel test, which then answered in the dead server's place).
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    socket.bind(&any.into()).unwrap();
    let a = socket.local_addr().unwrap().as_socket().unwrap();
    std::mem::forget(socket);
    a
}

/// Finds `needle` in `hay`, starting at `from`.
pub fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() || from > hay.len() - needle.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find(hay, needle, 0).is_some()
}

/// Lossy string for assertion messages (escapes control chars).
pub fn show(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b.iter().take(4000) {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n\n"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{:02x}", c)),
        }
    }
    if b.len() > 4000 {
        s.push_str(&format!("... ({} bytes total)", b.len()));
    }
    s
}

/// Deterministic pseudo-random bytes (xorshift), so that reordered,
/// duplicated or dropped slices of a large body are detected.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        for b in x.to_le_bytes() {
            if out.len() < len {
                out.push(b);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Config builder
// ---------------------------------------------------------------------------

/// A backend in a [`Cfg`].
#[derive(Clone, Debug)]
pub struct BackendCfg {
    pub name: String,
    pub servers: Vec<String>,
    pub timeouts: Vec<(String, String)>,
}

/// Renders a tern config with short, test-friendly timeouts.
#[derive(Clone, Debug)]
pub struct Cfg {
    pub workers: Option<u32>,
    pub grace: String,
    pub limits: Vec<(String, String)>,
    pub timeouts: Vec<(String, String)>,
    pub pool: Vec<(String, String)>,
    pub binds: Vec<String>,
    pub listener_name: Option<String>,
    pub routes: Vec<(String, String)>,
    pub backends: Vec<BackendCfg>,
}

fn set_kv(list: &mut Vec<(String, String)>, k: &str, v: String) {
    if let Some(e) = list.iter_mut().find(|(key, _)| key == k) {
        e.1 = v;
    } else {
        list.push((k.to_string(), v));
    }
}

fn quoted(v: &str) -> String {
    format!("\"{}\"", v)
}

impl Cfg {
    /// Config with no routes or backends.
    pub fn empty() -> Cfg {
        Cfg {
            workers: Some(2),
            grace: "5s".into(),
            limits: vec![],
            timeouts: vec![
                ("client_header".into(), quoted("5s")),
                // Long enough never to be the reason a test sees a close.
                ("client_idle".into(), quoted("20s")),
                ("client".into(), quoted("20s")),
                ("connect".into(), quoted("2s")),
                ("server".into(), quoted("5s")),
                ("tunnel".into(), quoted("10s")),
            ],
            pool: vec![],
            binds: vec!["127.0.0.1:0".into()],
            listener_name: Some("web".into()),
            routes: vec![],
            backends: vec![],
        }
    }

    /// One backend `app` with the given upstream, and a catch-all route to it.
    pub fn new(upstream: SocketAddr) -> Cfg {
        Cfg::servers(&[upstream])
    }

    /// One backend `app` with the given servers, and a catch-all route to it.
    pub fn servers(servers: &[SocketAddr]) -> Cfg {
        Cfg::empty().backend("app", servers).route("/", "app")
    }

    pub fn backend(mut self, name: &str, servers: &[SocketAddr]) -> Cfg {
        self.backends.push(BackendCfg {
            name: name.into(),
            servers: servers.iter().map(|s| s.to_string()).collect(),
            timeouts: vec![],
        });
        self
    }

    pub fn route(mut self, prefix: &str, backend: &str) -> Cfg {
        self.routes.push((prefix.into(), backend.into()));
        self
    }

    pub fn workers(mut self, n: u32) -> Cfg {
        self.workers = Some(n);
        self
    }

    /// `[server.timeouts]` key, value is a duration string like "1s".
    pub fn timeout(mut self, key: &str, val: &str) -> Cfg {
        set_kv(&mut self.timeouts, key, quoted(val));
        self
    }

    /// `[server.limits]` key.
    pub fn limit(mut self, key: &str, val: u64) -> Cfg {
        set_kv(&mut self.limits, key, val.to_string());
        self
    }

    /// `[server.pool]` key, value is raw TOML (e.g. `"\"300ms\""` or `"4"`).
    pub fn pool(mut self, key: &str, raw: &str) -> Cfg {
        set_kv(&mut self.pool, key, raw.to_string());
        self
    }

    pub fn grace(mut self, val: &str) -> Cfg {
        self.grace = val.into();
        self
    }

    /// Per-backend timeout override (`timeouts = { key = "val" }`).
    pub fn backend_timeout(mut self, backend: &str, key: &str, val: &str) -> Cfg {
        let b = self
            .backends
            .iter_mut()
            .find(|b| b.name == backend)
            .expect("no such backend");
        set_kv(&mut b.timeouts, key, quoted(val));
        self
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str("[server]\n");
        if let Some(w) = self.workers {
            s.push_str(&format!("workers = {}\n", w));
        }
        s.push_str(&format!("shutdown_grace = {}\n", quoted(&self.grace)));
        if !self.limits.is_empty() {
            s.push_str("\n[server.limits]\n");
            for (k, v) in &self.limits {
                s.push_str(&format!("{} = {}\n", k, v));
            }
        }
        s.push_str("\n[server.timeouts]\n");
        for (k, v) in &self.timeouts {
            s.push_str(&format!("{} = {}\n", k, v));
        }
        if !self.pool.is_empty() {
            s.push_str("\n[server.pool]\n");
            for (k, v) in &self.pool {
                s.push_str(&format!("{} = {}\n", k, v));
            }
        }
        s.push_str("\n[[listener]]\n");
        if let Some(n) = &self.listener_name {
            s.push_str(&format!("name = {}\n", quoted(n)));
        }
        if self.binds.len() == 1 {
            s.push_str(&format!("bind = {}\n", quoted(&self.binds[0])));
        } else {
            let list: Vec<String> = self.binds.iter().map(|b| quoted(b)).collect();
            s.push_str(&format!("bind = [{}]\n", list.join(", ")));
        }
        for (prefix, backend) in &self.routes {
            s.push_str(&format!(
                "\n[[route]]\npath_prefix = {}\nbackend = {}\n",
                quoted(prefix),
                quoted(backend)
            ));
        }
        for b in &self.backends {
            s.push_str(&format!("\n[backend.{}]\n", b.name));
            let servers: Vec<String> = b
                .servers
                .iter()
                .map(|a| format!("{{ address = {} }}", quoted(a)))
                .collect();
            s.push_str(&format!("servers = [{}]\n", servers.join(", ")));
            if !b.timeouts.is_empty() {
                let t: Vec<String> = b
                    .timeouts
                    .iter()
                    .map(|(k, v)| format!("{} = {}", k, v))
                    .collect();
                s.push_str(&format!("timeouts = {{ {} }}\n", t.join(", ")));
            }
        }
        s
    }

    pub fn start(&self) -> Tern {
        Tern::start(&self.render())
    }
}

// ---------------------------------------------------------------------------
// The tern process
// ---------------------------------------------------------------------------

/// A running tern process; killed on drop.
pub struct Tern {
    child: Child,
    /// Every `listening on` address, in the order printed.
    pub addrs: Vec<SocketAddr>,
    /// `(address, listener name)` pairs from the `listening on` lines.
    pub listeners: Vec<(SocketAddr, String)>,
    stderr: Arc<Mutex<Vec<String>>>,
    exit: Option<ExitStatus>,
    _config: TempFile,
    pub config_text: String,
}

/// Parses `listening on IP:PORT (NAME)`.
fn parse_listening(line: &str) -> Option<(SocketAddr, String)> {
    let i = line.find("listening on ")?;
    let rest = &line[i + "listening on ".len()..];
    let addr_str = rest.split_whitespace().next()?;
    let addr: SocketAddr = addr_str.trim_end_matches(',').parse().ok()?;
    let name = rest
        .find('(')
        .and_then(|a| {
            rest[a + 1..]
                .find(')')
                .map(|b| rest[a + 1..a + 1 + b].to_string())
        })
        .unwrap_or_default();
    Some((addr, name))
}

impl Tern {
    /// Writes `toml` to a temp file, starts `tern --config FILE` and waits
    /// (at most 10 s) for the ` started:` line. Panics with the captured
    /// stderr if tern exits or doesn't start in time.
    pub fn start(toml: &str) -> Tern {
        match Tern::try_start(toml) {
            Ok(t) => t,
            Err(e) => panic!("{}", e),
        }
    }

    pub fn try_start(toml: &str) -> Result<Tern, String> {
        let cfg = TempFile::new("tern.toml", toml);
        let mut child = Command::new(bin())
            .arg("--config")
            .arg(&cfg.path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot spawn {}: {}", bin(), e))?;
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<String>();
        {
            let lines = lines.clone();
            thread::spawn(move || {
                let mut r = BufReader::new(stderr);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match r.read_until(b'\n', &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let l = String::from_utf8_lossy(&buf).trim_end().to_string();
                            lines.lock().unwrap().push(l.clone());
                            let _ = tx.send(l);
                        }
                    }
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut listeners = Vec::new();
        let mut started = false;
        while !started {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            match rx.recv_timeout(deadline - now) {
                Ok(line) => {
                    if let Some(l) = parse_listening(&line) {
                        listeners.push(l);
                    }
                    if line.contains(" started:") {
                        started = true;
                    }
                }
                Err(_) => break,
            }
        }
        if !started || listeners.is_empty() {
            // Give a crashing process a moment to be reaped.
            let mut status = None;
            for _ in 0..50 {
                if let Ok(Some(s)) = child.try_wait() {
                    status = Some(s);
                    break;
                }
                thread::sleep(Duration::from_millis(10));
            }
            if status.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
            thread::sleep(Duration::from_millis(50));
            let captured = lines.lock().unwrap().join("\n");
            return Err(format!(
                "tern did not start (started line seen: {}, listeners: {:?}, exit: {:?})\n\
                 --- config ---\n{}\n--- stderr ---\n{}",
                started, listeners, status, toml, captured
            ));
        }
        Ok(Tern {
            child,
            addrs: listeners.iter().map(|l| l.0).collect(),
            listeners,
            stderr: lines,
            exit: None,
            _config: cfg,
            config_text: toml.to_string(),
        })
    }

    /// First listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// The admin endpoint's address (the config has an `[admin]`).
    pub fn admin_addr(&self) -> SocketAddr {
        self.listeners
            .iter()
            .find(|(_, name)| name == "admin")
            .map(|(addr, _)| *addr)
            .expect("admin address: the config has no [admin]")
    }

    /// The admin endpoint's `/metrics` answer, head and all.
    pub fn metrics(&self) -> String {
        let request = b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        let (answer, _) = raw_request(self.admin_addr(), request);
        String::from_utf8_lossy(&answer).into_owned()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// All stderr lines seen so far.
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// The stderr lines so far that contain `needle`.
    pub fn said(&self, needle: &str) -> Vec<String> {
        let lines = self.stderr.lock().unwrap();
        lines
            .iter()
            .filter(|l| l.contains(needle))
            .cloned()
            .collect()
    }

    /// Whether a stderr line so far contains `needle`.
    pub fn has_said(&self, needle: &str) -> bool {
        let lines = self.stderr.lock().unwrap();
        lines.iter().any(|l| l.contains(needle))
    }

    /// The config file tern was started with (rewrite it to reload).
    pub fn config_path(&self) -> &std::path::Path {
        &self._config.path
    }

    /// Sends `signal` (e.g. "HUP") via the `kill` command.
    pub fn signal(&self, signal: &str) {
        let st = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -{signal} failed");
    }

    /// Sends SIGTERM via the `kill` command.
    pub fn sigterm(&self) {
        let st = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -TERM failed");
    }

    /// Waits at most `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Some(s) = self.exit {
            return Some(s);
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                self.exit = Some(s);
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.wait_exit(Duration::ZERO).is_none()
    }

    /// New client connection to the first listener.
    pub fn connect(&self) -> Conn {
        Conn::connect(self.addr())
    }
}

impl Drop for Tern {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the binary with `args` (no stdin) and a 10 s bound; kills it if it
/// runs longer and panics.
pub fn run_tern(args: &[&str]) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tern");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tern {:?} still running after 10 s", args);
        }
        thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

// ---------------------------------------------------------------------------
// Buffered connection (both sides)
// ---------------------------------------------------------------------------

/// Bytes received on one upstream connection.
#[derive(Default)]
pub struct ConnRec {
    pub bytes: Mutex<Vec<u8>>,
    /// The peer (tern) closed its side (read returned 0).
    pub peer_eof: AtomicBool,
    /// The handler returned.
    pub done: AtomicBool,
}

/// A buffered blocking TCP connection.
pub struct Conn {
    pub stream: TcpStream,
    /// Received but not consumed bytes.
    pub buf: Vec<u8>,
    /// Bytes asked from the socket per read.
    pub read_size: usize,
    /// Set once a read returned 0.
    pub eof: bool,
    rec: Option<Arc<ConnRec>>,
}

/// An HTTP message head (request or response).
#[derive(Clone, Debug, Default)]
pub struct Head {
    /// Request: method, target, version. Response: version, status, reason.
    pub start: [String; 3],
    pub headers: Vec<(String, Vec<u8>)>,
    /// The head as received, including the final CRLF CRLF.
    pub raw: Vec<u8>,
}

impl Head {
    pub fn method(&self) -> &str {
        &self.start[0]
    }
    pub fn target(&self) -> &str {
        &self.start[1]
    }
    pub fn req_version(&self) -> &str {
        &self.start[2]
    }
    /// First header value with that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }
    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect()
    }
    pub fn has(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }
    /// True if a comma-separated header `name` has `token` (case-insensitive).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.header_all(name)
            .iter()
            .flat_map(|v| {
                v.split(',')
                    .map(|t| t.trim().to_ascii_lowercase())
                    .collect::<Vec<_>>()
            })
            .any(|t| t == token.to_ascii_lowercase())
    }
    pub fn content_length(&self) -> Option<usize> {
        self.header("content-length")
            .and_then(|v| v.trim().parse().ok())
    }
    /// Transfer-Encoding's last coding is chunked.
    pub fn is_chunked(&self) -> bool {
        self.header_all("transfer-encoding")
            .join(",")
            .split(',')
            .map(|t| t.trim().to_ascii_lowercase())
            .rfind(|t| !t.is_empty())
            .is_some_and(|t| t == "chunked")
    }
}

/// Parses a head (start line + header lines) leniently. Lines split on CRLF.
pub fn parse_head(raw: &[u8]) -> Result<Head, String> {
    let text_end = raw.len().saturating_sub(4);
    let body = &raw[..text_end];
    let mut lines = Vec::new();
    let mut start = 0;
    while let Some(p) = find(body, b"\r\n", start) {
        lines.push(&body[start..p]);
        start = p + 2;
    }
    lines.push(&body[start..]);
    let first = String::from_utf8_lossy(lines[0]).into_owned();
    let mut parts = first.splitn(3, ' ');
    let a = parts.next().unwrap_or("").to_string();
    let b = parts.next().unwrap_or("").to_string();
    let c = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    for l in &lines[1..] {
        let colon = l
            .iter()
            .position(|&c| c == b':')
            .ok_or_else(|| format!("header line without colon: {}", show(l)))?;
        let name = String::from_utf8_lossy(&l[..colon]).into_owned();
        let mut v = &l[colon + 1..];
        while let [b' ' | b'\t', rest @ ..] = v {
            v = rest;
        }
        while let [rest @ .., b' ' | b'\t'] = v {
            v = rest;
        }
        headers.push((name, v.to_vec()));
    }
    Ok(Head {
        start: [a, b, c],
        headers,
        raw: raw.to_vec(),
    })
}

/// A parsed response.
#[derive(Clone, Debug, Default)]
pub struct Response {
    pub head: Head,
    pub status: u16,
    /// Decoded body.
    pub body: Vec<u8>,
    /// Everything consumed for this response (head + framed body).
    pub raw: Vec<u8>,
    pub chunked: bool,
    /// Body delimited by the connection close.
    pub close_delimited: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.header(name)
    }
    pub fn has(&self, name: &str) -> bool {
        self.head.has(name)
    }
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Why reading a response failed.
#[derive(Debug)]
pub enum RespErr {
    /// The peer closed before the response was complete. `partial` holds
    /// what was received of this response.
    Closed { partial: Vec<u8> },
    /// Read timeout before the response was complete.
    Timeout { partial: Vec<u8> },
    /// Any other I/O error (e.g. connection reset).
    Io { err: io::Error, partial: Vec<u8> },
    /// Not parseable as HTTP/1.x.
    Bad { msg: String, partial: Vec<u8> },
}

impl RespErr {
    pub fn partial(&self) -> &[u8] {
        match self {
            RespErr::Closed { partial }
            | RespErr::Timeout { partial }
            | RespErr::Io { partial, .. }
            | RespErr::Bad { partial, .. } => partial,
        }
    }
}

/// A decoded WebSocket frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsFrame {
    pub fin: bool,
    pub opcode: u8,
    pub masked: bool,
    /// Unmasked payload.
    pub payload: Vec<u8>,
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl Conn {
    pub fn new(stream: TcpStream, rec: Option<Arc<ConnRec>>) -> Conn {
        let _ = stream.set_nodelay(true);
        Conn {
            stream,
            buf: Vec::new(),
            read_size: 65536,
            eof: false,
            rec,
        }
    }

    /// Client connection with [`CLIENT_TIMEOUT`] read/write timeouts.
    pub fn connect(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect to {}: {}", addr, e));
        s.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        Conn::new(s, None)
    }

    pub fn set_read_timeout(&self, d: Duration) {
        self.stream.set_read_timeout(Some(d)).unwrap();
    }

    /// One read from the socket into `buf`. Ok(0) means EOF.
    pub fn fill(&mut self) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        let mut tmp = vec![0u8; self.read_size];
        loop {
            match self.stream.read(&mut tmp) {
                Ok(0) => {
                    self.eof = true;
                    if let Some(r) = &self.rec {
                        r.peer_eof.store(true, Ordering::SeqCst);
                    }
                    return Ok(0);
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&tmp[..n]);
                    if let Some(r) = &self.rec {
                        r.bytes.lock().unwrap().extend_from_slice(&tmp[..n]);
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("write failed: {}", e));
    }

    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Consumes the first `n` buffered bytes.
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        self.buf.drain(..n).collect()
    }

    /// Reads until `pat` is buffered, returns everything up to and including it.
    pub fn read_until(&mut self, pat: &[u8]) -> io::Result<Vec<u8>> {
        let mut from = 0;
        loop {
            if let Some(p) = find(&self.buf, pat, from) {
                return Ok(self.take(p + pat.len()));
            }
            from = self.buf.len().saturating_sub(pat.len());
            if self.fill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    pub fn read_exact_n(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if self.fill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(self.take(n))
    }

    /// Reads until EOF (or an error/timeout). Returns the bytes and how it ended.
    pub fn read_to_eof(&mut self) -> (Vec<u8>, io::Result<()>) {
        loop {
            match self.fill() {
                Ok(0) => {
                    let b = std::mem::take(&mut self.buf);
                    return (b, Ok(()));
                }
                Ok(_) => {}
                Err(e) => {
                    let b = std::mem::take(&mut self.buf);
                    return (b, Err(e));
                }
            }
        }
    }

    /// Waits (read timeout bounded) for the peer to close. Returns
    /// `Ok(extra bytes)` if it closed (EOF or reset), `Err(bytes)` on timeout.
    pub fn expect_close(&mut self, timeout: Duration) -> Result<Vec<u8>, Vec<u8>> {
        self.set_read_timeout(timeout);
        let (b, r) = self.read_to_eof();
        match r {
            Ok(()) => Ok(b),
            Err(e) if is_timeout(&e) => Err(b),
            Err(_) => Ok(b),
        }
    }

    /// Reads a head ending in CRLF CRLF.
    pub fn read_head_raw(&mut self) -> io::Result<Vec<u8>> {
        self.read_until(b"\r\n\r\n")
    }

    /// Reads a chunked body; returns (decoded body, raw framed bytes).
    pub fn read_chunked(&mut self) -> io::Result<(Vec<u8>, Vec<u8>)> {
        let mut raw = Vec::new();
        let body = self.read_chunked_into(&mut raw)?;
        Ok((body, raw))
    }

    /// Reads a chunked body, appending the framed bytes to `raw` as they
    /// are consumed (so they are kept when it fails); returns the body.
    pub fn read_chunked_into(&mut self, raw: &mut Vec<u8>) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.read_until(b"\r\n")?;
            raw.extend_from_slice(&line);
            let l = String::from_utf8_lossy(&line[..line.len() - 2]).into_owned();
            let size_str = l.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_str, 16).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad chunk size {:?}", l),
                )
            })?;
            if size == 0 {
                // Trailers until an empty line.
                loop {
                    let t = self.read_until(b"\r\n")?;
                    raw.extend_from_slice(&t);
                    if t.len() == 2 {
                        return Ok(body);
                    }
                }
            }
            let data = self.read_exact_n(size + 2)?;
            raw.extend_from_slice(&data);
            if &data[size..] != b"\r\n" {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "missing CRLF after chunk data",
                ));
            }
            body.extend_from_slice(&data[..size]);
        }
    }

    // ----- client side -----

    /// Reads one response to a GET.
    pub fn read_response(&mut self) -> Result<Response, RespErr> {
        self.read_response_to("GET")
    }

    /// Reads one response (a 1xx is returned as is) to a request with `method`.
    pub fn read_response_to(&mut self, method: &str) -> Result<Response, RespErr> {
        let mut raw = Vec::new();
        let err = |raw: &Vec<u8>, buf: &Vec<u8>, e: io::Error| {
            let mut partial = raw.clone();
            partial.extend_from_slice(buf);
            if e.kind() == io::ErrorKind::UnexpectedEof {
                RespErr::Closed { partial }
            } else if is_timeout(&e) {
                RespErr::Timeout { partial }
            } else {
                RespErr::Io { err: e, partial }
            }
        };
        let head_raw = match self.read_head_raw() {
            Ok(h) => h,
            Err(e) => return Err(err(&raw, &self.buf, e)),
        };
        raw.extend_from_slice(&head_raw);
        let head = parse_head(&head_raw).map_err(|msg| RespErr::Bad {
            msg,
            partial: raw.clone(),
        })?;
        if !head.start[0].starts_with("HTTP/1.") {
            return Err(RespErr::Bad {
                msg: format!("bad status line {:?}", head.start),
                partial: raw,
            });
        }
        let status: u16 = head.start[1].parse().map_err(|_| RespErr::Bad {
            msg: format!("bad status {:?}", head.start[1]),
            partial: raw.clone(),
        })?;
        let mut resp = Response {
            status,
            ..Default::default()
        };
        let no_body = (100..200).contains(&status)
            || status == 204
            || status == 304
            || method.eq_ignore_ascii_case("HEAD");
        if no_body {
        } else if head.has("transfer-encoding") && head.is_chunked() {
            resp.chunked = true;
            match self.read_chunked_into(&mut raw) {
                Ok(body) => resp.body = body,
                Err(e) => return Err(err(&raw, &self.buf, e)),
            }
        } else if let Some(cl) = head.content_length() {
            match self.read_exact_n(cl) {
                Ok(b) => {
                    raw.extend_from_slice(&b);
                    resp.body = b;
                }
                Err(e) => return Err(err(&raw, &self.buf, e)),
            }
        } else if head.has("content-length") {
            return Err(RespErr::Bad {
                msg: "unparseable content-length".into(),
                partial: raw,
            });
        } else {
            resp.close_delimited = true;
            let (b, r) = self.read_to_eof();
            raw.extend_from_slice(&b);
            if let Err(e) = r {
                return Err(err(&raw, &Vec::new(), e));
            }
            resp.body = b;
        }
        resp.head = head;
        resp.raw = raw;
        Ok(resp)
    }

    /// Reads responses to `method`, collecting 1xx interim ones, until a final one.
    pub fn read_final_response(
        &mut self,
        method: &str,
    ) -> Result<(Vec<Response>, Response), RespErr> {
        let mut interim = Vec::new();
        for _ in 0..20 {
            let r = self.read_response_to(method)?;
            if (100..200).contains(&r.status) && r.status != 101 {
                interim.push(r);
            } else {
                return Ok((interim, r));
            }
        }
        Err(RespErr::Bad {
            msg: "more than 20 interim responses".into(),
            partial: vec![],
        })
    }

    /// Sends a request and reads the final response (panics on failure).
    pub fn roundtrip(&mut self, req: &[u8]) -> Response {
        self.send(req);
        let method = String::from_utf8_lossy(req.split(|&c| c == b' ').next().unwrap_or(b"GET"))
            .into_owned();
        match self.read_final_response(&method) {
            Ok((_, r)) => r,
            Err(e) => panic!(
                "no complete response to {}: {:?} partial={}",
                show(req),
                e,
                show(e.partial())
            ),
        }
    }

    // ----- WebSocket -----

    pub fn read_ws_frame(&mut self) -> io::Result<WsFrame> {
        loop {
            if let Some((f, n)) = ws_decode(&self.buf) {
                self.take(n);
                return Ok(f);
            }
            if self.fill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

/// `GET path HTTP/1.1` with `Host: test.local`, as bytes.
pub fn get(path: &str) -> Vec<u8> {
    format!("GET {} HTTP/1.1\r\nHost: test.local\r\n\r\n", path).into_bytes()
}

/// A POST with a Content-Length body.
pub fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "POST {} HTTP/1.1\r\nHost: test.local\r\nContent-Length: {}\r\n\r\n",
        path,
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

/// Connects, writes `bytes` (write errors ignored), reads until EOF, reset,
/// or 2 s without data (10 s overall). Returns the bytes and whether the
/// connection was closed by tern.
/// 2,000 requests tern refuses with 505 (HTTP/2.0 in an HTTP/1 request
/// line), each a debug line in its error log: several times what a pipe or
/// a socket holds. Each must be answered.
pub fn send_refused_requests(addr: SocketAddr) {
    let refused = format!("GET /{} HTTP/2.0\r\nHost: h\r\n\r\n", "y".repeat(100));
    for i in 0..2000 {
        let mut bad = Conn::connect(addr);
        bad.set_read_timeout(Duration::from_secs(3));
        bad.send(refused.as_bytes());
        let closed = bad.expect_close(Duration::from_secs(3));
        assert!(closed.is_ok(), "refusal {i} not answered");
    }
}

pub fn raw_request(addr: SocketAddr, bytes: &[u8]) -> (Vec<u8>, bool) {
    raw_request_timeout(addr, bytes, Duration::from_secs(2))
}

pub fn raw_request_timeout(addr: SocketAddr, bytes: &[u8], idle: Duration) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(idle)).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let mut tmp = [0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match s.read(&mut tmp) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&tmp[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => return (out, false),
            Err(_) => return (out, true),
        }
    }
    (out, false)
}

/// Status code of the first response in `bytes`.
pub fn status_of(bytes: &[u8]) -> Option<u16> {
    let line_end = find(bytes, b"\r\n", 0)?;
    let line = std::str::from_utf8(&bytes[..line_end]).ok()?;
    let mut p = line.split(' ');
    if !p.next()?.starts_with("HTTP/1.") {
        return None;
    }
    p.next()?.parse().ok()
}

// ---------------------------------------------------------------------------
// Recording upstream
// ---------------------------------------------------------------------------

/// A request as seen by the upstream.
#[derive(Clone, Debug)]
pub struct SeenRequest {
    /// Index of the upstream connection (accept order, from 0).
    pub conn: usize,
    /// Index of the request on that connection (from 0).
    pub nth: usize,
    pub head: Head,
    /// Decoded body.
    pub body: Vec<u8>,
    /// Body bytes as framed on the wire (chunked framing kept).
    pub raw_body: Vec<u8>,
}

struct UpState {
    conns: Mutex<Vec<Arc<ConnRec>>>,
    streams: Mutex<Vec<TcpStream>>,
    requests: Mutex<Vec<SeenRequest>>,
    stop: AtomicBool,
}

/// One accepted upstream connection, handed to the test's handler.
pub struct UpConn {
    pub conn: Conn,
    /// Accept order of this connection (from 0).
    pub index: usize,
    /// Requests completed on this connection so far.
    pub nth: usize,
    state: Arc<UpState>,
}

impl std::ops::Deref for UpConn {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.conn
    }
}
impl std::ops::DerefMut for UpConn {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.conn
    }
}

impl UpConn {
    /// Reads a request head; None on EOF/error/garbage.
    pub fn read_head(&mut self) -> Option<Head> {
        let raw = self.conn.read_head_raw().ok()?;
        parse_head(&raw).ok()
    }

    /// Reads the body framed per `head`; returns (decoded, raw framed).
    pub fn read_body(&mut self, head: &Head) -> Option<(Vec<u8>, Vec<u8>)> {
        if head.has("transfer-encoding") {
            self.conn.read_chunked().ok()
        } else if let Some(n) = head.content_length() {
            let b = self.conn.read_exact_n(n).ok()?;
            Some((b.clone(), b))
        } else {
            Some((vec![], vec![]))
        }
    }

    /// Records a completed request.
    pub fn record(&mut self, head: &Head, body: Vec<u8>, raw_body: Vec<u8>) -> SeenRequest {
        let r = SeenRequest {
            conn: self.index,
            nth: self.nth,
            head: head.clone(),
            body,
            raw_body,
        };
        self.nth += 1;
        self.state.requests.lock().unwrap().push(r.clone());
        r
    }

    /// Reads a full request (answers `100 Continue` first if
    /// `send_continue` and the request expects it) and records it.
    pub fn read_request_opts(&mut self, send_continue: bool) -> Option<SeenRequest> {
        let head = self.read_head()?;
        if send_continue && head.has_token("expect", "100-continue") {
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        let (body, raw) = self.read_body(&head)?;
        Some(self.record(&head, body, raw))
    }

    pub fn read_request(&mut self) -> Option<SeenRequest> {
        self.read_request_opts(true)
    }

    /// Writes bytes; returns false on error.
    pub fn write(&mut self, b: &[u8]) -> bool {
        self.conn.stream.write_all(b).is_ok()
    }

    /// Writes a response with Content-Length.
    pub fn respond(&mut self, status: u16, headers: &[(&str, &str)], body: &[u8]) -> bool {
        let mut out = format!("HTTP/1.1 {} {}\r\n", status, reason(status));
        for (k, v) in headers {
            out.push_str(&format!("{}: {}\r\n", k, v));
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut b = out.into_bytes();
        b.extend_from_slice(body);
        self.write(&b)
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        103 => "Early Hints",
        200 => "OK",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Whatever",
    }
}

/// The standard echo behaviour: for each request, answer 200 with a
/// Content-Length body equal to the request body, or to the request target
/// when the body is empty (no body for HEAD). Adds `X-Upstream-Conn` (the
/// upstream connection index) and `X-Upstream-Nth` (request index on it).
pub fn echo_handler(c: &mut UpConn) {
    while let Some(req) = c.read_request() {
        let body = if req.body.is_empty() {
            req.head.target().as_bytes().to_vec()
        } else {
            req.body.clone()
        };
        let mut out = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Upstream-Conn: {}\r\nX-Upstream-Nth: {}\r\n\r\n",
            body.len(),
            req.conn,
            req.nth
        )
        .into_bytes();
        if req.head.method() != "HEAD" {
            out.extend_from_slice(&body);
        }
        if !c.write(&out) {
            return;
        }
    }
}

/// A thread-per-connection upstream that records every byte per connection.
pub struct RecordingUpstream {
    pub addr: SocketAddr,
    state: Arc<UpState>,
}

impl RecordingUpstream {
    /// Starts an upstream whose connections are served by `handler`
    /// (one thread per connection; the connection is closed when it returns).
    pub fn start<F>(handler: F) -> RecordingUpstream
    where
        F: Fn(&mut UpConn) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
        RecordingUpstream::with_listener(listener, handler)
    }

    pub fn with_listener<F>(listener: TcpListener, handler: F) -> RecordingUpstream
    where
        F: Fn(&mut UpConn) + Send + Sync + 'static,
    {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(UpState {
            conns: Mutex::new(Vec::new()),
            streams: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let handler = Arc::new(handler);
        let st = state.clone();
        thread::spawn(move || {
            for s in listener.incoming() {
                if st.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(s) = s else { continue };
                let rec = Arc::new(ConnRec::default());
                let index = {
                    let mut c = st.conns.lock().unwrap();
                    c.push(rec.clone());
                    c.len() - 1
                };
                if let Ok(clone) = s.try_clone() {
                    st.streams.lock().unwrap().push(clone);
                }
                s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
                s.set_write_timeout(Some(Duration::from_secs(15))).unwrap();
                let h = handler.clone();
                let st2 = st.clone();
                thread::spawn(move || {
                    let mut c = UpConn {
                        conn: Conn::new(s, Some(rec.clone())),
                        index,
                        nth: 0,
                        state: st2,
                    };
                    h(&mut c);
                    rec.done.store(true, Ordering::SeqCst);
                    let _ = c.conn.stream.shutdown(Shutdown::Both);
                });
            }
        });
        RecordingUpstream { addr, state }
    }

    /// Upstream running [`echo_handler`].
    pub fn echo() -> RecordingUpstream {
        RecordingUpstream::start(echo_handler)
    }

    /// Upstream that only records: reads until EOF, never answers.
    pub fn silent() -> RecordingUpstream {
        RecordingUpstream::start(|c| {
            let _ = c.conn.read_to_eof();
        })
    }

    pub fn conn_count(&self) -> usize {
        self.state.conns.lock().unwrap().len()
    }

    /// Bytes received on connection `i`.
    pub fn conn_bytes(&self, i: usize) -> Vec<u8> {
        self.state.conns.lock().unwrap()[i]
            .bytes
            .lock()
            .unwrap()
            .clone()
    }

    /// True once tern closed connection `i` (the handler read EOF).
    pub fn conn_peer_eof(&self, i: usize) -> bool {
        self.state.conns.lock().unwrap()[i]
            .peer_eof
            .load(Ordering::SeqCst)
    }

    /// All bytes received on all connections, concatenated in accept order.
    pub fn all_bytes(&self) -> Vec<u8> {
        let conns = self.state.conns.lock().unwrap();
        let mut v = Vec::new();
        for c in conns.iter() {
            v.extend_from_slice(&c.bytes.lock().unwrap());
        }
        v
    }

    pub fn total_bytes(&self) -> usize {
        self.all_bytes().len()
    }

    /// Completed requests, in completion order.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn request_count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }

    pub fn wait_requests(&self, n: usize, timeout: Duration) -> bool {
        wait_until(timeout, || self.request_count() >= n)
    }

    pub fn wait_conns(&self, n: usize, timeout: Duration) -> bool {
        wait_until(timeout, || self.conn_count() >= n)
    }
}

impl Drop for RecordingUpstream {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        for s in self.state.streams.lock().unwrap().iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

// ---------------------------------------------------------------------------
// WebSocket frames
// ---------------------------------------------------------------------------

/// Encodes a frame; masks the payload when `mask` is given (client frames).
pub fn ws_encode(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![(if fin { 0x80 } else { 0 }) | (opcode & 0x0f)];
    let m = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        out.push(m | len as u8);
    } else if len <= 0xffff {
        out.push(m | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match mask {
        Some(k) => {
            out.extend_from_slice(&k);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// Decodes one frame from the start of `buf`: (frame, bytes used), or None
/// if incomplete.
pub fn ws_decode(buf: &[u8]) -> Option<(WsFrame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let fin = buf[0] & 0x80 != 0;
    let opcode = buf[0] & 0x0f;
    let masked = buf[1] & 0x80 != 0;
    let mut len = (buf[1] & 0x7f) as usize;
    let mut pos = 2;
    if len == 126 {
        if buf.len() < 4 {
            return None;
        }
        len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
        pos = 4;
    } else if len == 127 {
        if buf.len() < 10 {
            return None;
        }
        let mut b = [0u8; 8];
        b.copy_from_slice(&buf[2..10]);
        len = u64::from_be_bytes(b) as usize;
        pos = 10;
    }
    let mut key = [0u8; 4];
    if masked {
        if buf.len() < pos + 4 {
            return None;
        }
        key.copy_from_slice(&buf[pos..pos + 4]);
        pos += 4;
    }
    if buf.len() < pos + len {
        return None;
    }
    let mut payload = buf[pos..pos + len].to_vec();
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    Some((
        WsFrame {
            fin,
            opcode,
            masked,
            payload,
        },
        pos + len,
    ))
}
