//! Static files the page cache doesn't hold, or whose names the kernel's
//! caches don't: the worker goes on serving while the disk is waited for
//! (`src/files/disk.rs`, `src/files/opener.rs`). A slow disk is a FUSE
//! filesystem whose reads or lookups wait (`tests/slow_fs.py`); a cold one
//! is a file just evicted from the page cache.

mod common;
mod static_site;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::slow_fs::SlowFs;
use common::*;
use static_site::*;

/// tern with one worker: `/slow/` on the slow filesystem (its static table
/// with `settings`, its route with `route_lines`), `/fast/` on an ordinary
/// directory holding `fast.txt`, and the admin endpoint.
fn serve_both(slow: &Path, static_and_route: (&str, &str), fast: &TempDir) -> Tern {
    Tern::start(&slow_and_fast_config(slow, static_and_route, fast))
}

/// While the one worker's client waits for `name` from the slow disk
/// (gzipped when `compress`), another client of the same worker is answered
/// before that read ends; then the file arrives whole.
fn slow_read_holds_up_no_one(name: &str, size: usize, compress: bool) {
    let slow = SlowFs::mount();
    let fast = fast_site();
    let route_lines = if compress { "compress = true\n" } else { "" };
    let tern = serve_both(&slow.mount, ("", route_lines), &fast);
    let path = format!("/slow/{name}");
    let request = match compress {
        true => get_with(&path, "Accept-Encoding: gzip\r\n"),
        false => get(&path),
    };
    let response = slow.answered_after(&tern, &request, "read");
    assert_eq!(response.status, 200);
    let body = match compress {
        true => {
            assert_eq!(response.header("content-encoding").as_deref(), Some("gzip"));
            common::codings::gunzip(&response.body)
        }
        false => response.body,
    };
    assert!(body == pattern_of(size), "{name} arrived changed");
    assert!(
        disk_reads(&tern) > 0,
        "the reads did not go through the ring"
    );
}

#[test]
fn a_small_file_the_disk_is_slow_to_give_holds_up_no_other_client() {
    // 4,000 bytes: read into the head's buffer and sent with it.
    slow_read_holds_up_no_one("small.bin", 4_000, false);
}

#[test]
fn a_large_file_the_disk_is_slow_to_give_holds_up_no_other_client() {
    // 300,000 bytes: the sendfile path, which finds it not cached and copies.
    slow_read_holds_up_no_one("big.bin", 300_000, false);
}

#[test]
fn a_file_compressed_on_the_way_that_the_disk_is_slow_to_give_holds_up_no_other_client() {
    slow_read_holds_up_no_one("page.txt", 300_000, true);
}

#[test]
fn a_file_evicted_from_the_page_cache_is_read_through_the_ring_and_sent_whole() {
    let root = TempDir::new("evicted");
    let body = pattern(4 << 20, 11);
    let path = root.write("cold.bin", &body);
    let mut toml = config(Some("/static/"), &root.path, "");
    toml.push_str("\n[admin]\nbind = \"127.0.0.1:0\"\n");
    let tern = Tern::start(&toml);

    evict(&path);
    let before = disk_reads(&tern);
    let cold = fetch(&tern, &get("/static/cold.bin"));
    assert!(cold.body == body, "the evicted file arrived changed");
    let cold_reads = disk_reads(&tern) - before;
    assert!(cold_reads > 0, "no read waited for the disk");

    // Now cached: sent without the ring's reads.
    let warm = fetch(&tern, &get("/static/cold.bin"));
    assert!(warm.body == body, "the cached file arrived changed");
    assert_eq!(
        disk_reads(&tern) - before,
        cold_reads,
        "a cached file was read through the ring"
    );
}

#[test]
fn a_file_whose_name_the_disk_is_slow_to_look_up_holds_up_no_other_client() {
    let slow = SlowFs::mount();
    let fast = fast_site();
    let tern = serve_both(&slow.mount, ("", ""), &fast);
    let response = slow.answered_after(&tern, &get("/slow/slow-name.bin"), "lookup");
    assert_eq!(response.status, 200);
    assert!(
        response.body == pattern_of(4_000),
        "slow-name.bin arrived changed"
    );
    assert!(slow_opens(&tern) > 0, "not opened by a file thread");
}

#[test]
fn a_precompressed_file_whose_names_are_slow_to_look_up_is_served_after_both_are_opened() {
    // slow-name.txt, then slow-name.txt.gz beside it: two rounds, each
    // waiting for its lookup off the worker.
    let slow = SlowFs::mount();
    let fast = fast_site();
    let tern = serve_both(&slow.mount, (", gzip_static = true", ""), &fast);
    let mut client = tern.connect();
    client.set_read_timeout(Duration::from_secs(30));
    let response = client.roundtrip(&get_with(
        "/slow/slow-name.txt",
        "Accept-Encoding: gzip\r\n",
    ));
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-encoding").as_deref(), Some("gzip"));
    assert!(
        response.body == pattern_of(4_000),
        "slow-name.txt.gz arrived changed"
    );
    let reads = slow.reads();
    for name in ["/slow-name.txt\n", "/slow-name.txt.gz\n"] {
        assert!(
            reads.contains(&format!("end lookup {name}")),
            "{name} not looked up:\n{reads}"
        );
    }
    assert!(slow_opens(&tern) >= 2, "both names opened by file threads");
}

#[test]
fn an_http2_stream_for_a_name_slow_to_look_up_is_answered_once_it_is_opened() {
    let slow = SlowFs::mount();
    let fast = fast_site();
    let toml = slow_and_fast_config(&slow.mount, ("", ""), &fast);
    let tern = Tern::start(&toml.replacen("[[listener]]\n", "[[listener]]\nhttp2 = true\n", 1));
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--http2-prior-knowledge"])
        .arg(format!("http://{}/slow/slow-name.bin", tern.addr()))
        .output()
        .expect("curl runs");
    assert!(
        out.stdout == pattern_of(4_000),
        "got {} bytes: {}",
        out.stdout.len(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(slow_opens(&tern) > 0, "not opened by a file thread");
}

#[test]
fn a_directory_listing_the_disk_is_slow_to_read_holds_up_no_other_client() {
    let slow = SlowFs::mount();
    let fast = fast_site();
    let tern = serve_both(&slow.mount, (", listing = true", ""), &fast);
    let response = slow.answered_after(&tern, &get("/slow/slow-list/"), "listing");
    assert_eq!(response.status, 200);
    let page = String::from_utf8_lossy(&response.body);
    assert!(page.contains("listed.txt"), "{page}");
}

#[test]
fn a_network_root_whose_path_is_slow_to_look_at_again_holds_up_no_client() {
    // The root is the slow filesystem's slow-root: looking at its path
    // again (once a second, for deploys) waits 1.5 s.
    let slow = SlowFs::mount_waiting("1.5");
    let fast = fast_site();
    let root = slow.mount.join("slow-root");
    let tern = serve_both(&root, ("", ""), &fast);
    let count = |line: &str| slow.reads().matches(line).count();
    let looks_begun = count("begin lookup /slow-root");
    assert_eq!(
        looks_begun,
        count("end lookup /slow-root"),
        "a look before any request"
    );

    // A static request is when a worker finds the look due (a second
    // after the last): asked until one has.
    let mut inside = tern.connect();
    inside.set_read_timeout(Duration::from_secs(30));
    let began = wait_until(Duration::from_secs(10), || {
        assert_eq!(
            inside.roundtrip(&get("/slow/inside.txt")).body,
            pattern_of(4_000)
        );
        count("begin lookup /slow-root") > looks_begun
    });
    assert!(began, "tern never looked at the root's path again");
    let mut other = tern.connect();
    other.set_read_timeout(Duration::from_secs(30));
    assert_eq!(other.roundtrip(&get("/fast/fast.txt")).body, b"fast");
    let reads = slow.reads();
    assert!(
        count("end lookup /slow-root") == looks_begun,
        "the other client was answered only after the look ended:\n{reads}"
    );
}

#[test]
fn a_burst_of_names_past_the_file_threads_queue_waits_for_room_and_all_are_answered() {
    // 150 names at 20 ms a lookup (one at a time): 3 s in all, the 18 past
    // the queue's 128 waiting for room well within the 5 s they may wait.
    let slow = SlowFs::mount_waiting("0.02");
    let fast = fast_site();
    let tern = serve_both(&slow.mount, ("", ""), &fast);
    let mut clients = ask_for_missing_names(&tern, 150);
    let statuses: Vec<u16> = clients
        .iter_mut()
        .map(|client| client.read_response().map_or(0, |r| r.status))
        .collect();
    assert!(statuses.iter().all(|&s| s == 404), "{statuses:?}");
    assert!(!tern.has_said("stayed full"));
}

#[test]
fn names_past_what_the_file_threads_can_take_wait_then_get_503_and_the_worker_goes_on() {
    // 4 file threads and 128 waiting jobs; libfuse2 looks names up in one
    // directory one at a time, 2 s each. Of 150 names asked for at once,
    // those that found no room and got none within 5 s are refused; the
    // worker waits for none of them.
    let slow = SlowFs::mount_waiting("2");
    let fast = fast_site();
    let tern = serve_both(&slow.mount, ("", ""), &fast);
    let mut clients = ask_for_missing_names(&tern, 150);
    let mut other = tern.connect();
    other.set_read_timeout(Duration::from_secs(30));
    assert_eq!(other.roundtrip(&get("/fast/fast.txt")).body, b"fast");
    let refused = wait_until(Duration::from_secs(20), || {
        tern.has_said("queue (128 names) stayed full")
    });
    assert!(refused, "no request was refused");

    // The answers so far (the queued ones wait minutes for their lookups).
    let statuses: Vec<u16> = clients
        .iter_mut()
        .filter_map(|client| {
            client.set_read_timeout(Duration::from_millis(50));
            client.read_response().ok().map(|r| r.status)
        })
        .collect();
    let busy = statuses.iter().filter(|&&s| s == 503).count();
    assert!(busy > 0, "none answered 503: {statuses:?}");
    assert!(
        statuses.iter().all(|&s| s == 503 || s == 404),
        "{statuses:?}"
    );
    assert!(
        busy <= 150 - 128,
        "more refused than the queue left out: {statuses:?}"
    );
    let mut after = tern.connect();
    after.set_read_timeout(Duration::from_secs(30));
    assert_eq!(after.roundtrip(&get("/fast/fast.txt")).body, b"fast");
    assert_eq!(tern.said("stayed full").len(), 1, "logged once");
}

#[test]
fn requests_waiting_for_the_file_threads_hold_no_descriptors_of_their_own() {
    // 100 names at 2 s a lookup: 4 being looked up, 96 queued, for minutes.
    // Each client costs tern its socket; waiting costs nothing more (the
    // file thread rings the worker's doorbell): the connection cap, which
    // counts two descriptors per client, holds.
    let slow = SlowFs::mount_waiting("2");
    let fast = fast_site();
    let tern = serve_both(&slow.mount, ("", ""), &fast);
    let before = open_descriptors(&tern);
    let clients = ask_for_missing_names(&tern, 100);
    assert!(
        wait_until(Duration::from_secs(20), || slow_opens(&tern) == 100),
        "not every name went to the file threads: {}",
        slow_opens(&tern)
    );
    let waiting = open_descriptors(&tern) - before;
    // Beyond the 100 sockets: the threads' opens in progress, the admin
    // connection just made.
    assert!(
        waiting <= 100 + 8,
        "{waiting} descriptors more while 100 requests wait"
    );
    let mut other = tern.connect();
    other.set_read_timeout(Duration::from_secs(30));
    assert_eq!(other.roundtrip(&get("/fast/fast.txt")).body, b"fast");
    drop(clients);
}

/// How many descriptors tern's process has open.
fn open_descriptors(tern: &Tern) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", tern.pid()))
        .expect("tern's descriptors")
        .count()
}

/// `count` clients, each asking for its own name the slow filesystem looks
/// up slowly and doesn't find ("missing-N").
fn ask_for_missing_names(tern: &Tern, count: usize) -> Vec<Conn> {
    (0..count)
        .map(|i| {
            let mut client = tern.connect();
            client.set_read_timeout(Duration::from_secs(60));
            client.send(&get(&format!("/slow/missing-{i}")));
            client
        })
        .collect()
}

/// The slow filesystem's bytes: byte i is (i * 7) & 0xFF.
fn pattern_of(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7) as u8).collect()
}

/// Drops `path`'s pages from the page cache (written out first: the kernel
/// drops only clean pages).
fn evict(path: &Path) {
    let file = File::open(path).expect("open");
    file.sync_all().expect("fsync");
    // SAFETY: an advice call on a descriptor open for its duration.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(rc, 0, "posix_fadvise");
}

/// `tern_static_disk_reads_total` from the admin endpoint.
fn disk_reads(tern: &Tern) -> u64 {
    counter(tern, "tern_static_disk_reads_total")
}

/// `tern_static_slow_opens_total` from the admin endpoint.
fn slow_opens(tern: &Tern) -> u64 {
    counter(tern, "tern_static_slow_opens_total")
}

fn counter(tern: &Tern, name: &str) -> u64 {
    tern.metrics()
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in /metrics"))
}

#[test]
fn a_reload_whose_new_root_does_not_answer_is_refused_and_tern_still_takes_signals() {
    // A root whose lookup takes 60 s stands for a network filesystem
    // whose server is gone: opening it must not hold the main thread.
    let slow = SlowFs::mount_waiting("60");
    let fast = fast_site();
    let before = TempDir::new("before");
    before.write("inside.txt", b"before");
    let mut tern = serve_both(&before.path, ("", ""), &fast);
    let gone = slow.mount.join("slow-root");
    let text = slow_and_fast_config(&gone, ("", ""), &fast);
    std::fs::write(tern.config_path(), text).expect("rewrite the config");

    tern.signal("HUP");
    let refused = wait_until(Duration::from_secs(20), || {
        tern.has_said("reload refused") && tern.has_said("did not answer within 5 s")
    });
    assert!(refused, "no refusal naming the root: {:?}", tern.stderr());
    assert!(tern.said("reload refused")[0].contains("slow-root"));
    // The first look is still under way: the next reload is refused at
    // once, without a second thread waiting on the same root.
    tern.signal("HUP");
    let at_once = wait_until(Duration::from_secs(20), || {
        tern.has_said("has not come back yet")
    });
    assert!(at_once, "{:?}", tern.stderr());
    assert_eq!(
        tern.connect().roundtrip(&get("/slow/inside.txt")).body,
        b"before",
        "the running configuration is not served"
    );
    tern.sigterm();
    let stopping = wait_until(Duration::from_secs(20), || tern.has_said("stopping"));
    assert!(stopping, "SIGTERM not taken: {:?}", tern.stderr());
    // The process ends once the filesystem lets its thread go (a FUSE
    // request under way holds even an exiting thread; an NFS one doesn't).
    drop(slow);
    assert!(
        tern.wait_exit(Duration::from_secs(20)).is_some(),
        "tern did not stop"
    );
}
