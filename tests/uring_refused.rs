//! Where the kernel or a container refuses io_uring (Docker's default
//! seccomp profile does), tern runs every worker on the epoll driver and
//! says why once. Alone in its own test binary: it points `TERN_TEST_BIN`
//! at a wrapper for its children.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;

/// tern started by `tests/without_io_uring.py`, whose seccomp filter fails
/// io_uring_setup with EPERM. The returned file must outlive the test.
fn without_io_uring() -> TempFile {
    let refuser = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/without_io_uring.py");
    let script = TempFile::new(
        "no-uring.sh",
        &format!(
            "#!/bin/sh\nexec python3 {} {} \"$@\"\n",
            refuser.display(),
            BIN
        ),
    );
    std::fs::set_permissions(&script.path, std::fs::Permissions::from_mode(0o755))
        .expect("chmod the wrapper");
    std::env::set_var("TERN_TEST_BIN", &script.path);
    script
}

#[test]
fn refused_io_uring_is_said_once_and_every_worker_serves_on_epoll() {
    let _wrapper = without_io_uring();
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).workers(3).start();
    let said: Vec<String> = (tern.stderr().into_iter())
        .filter(|line| line.contains("io_uring unavailable"))
        .collect();
    assert_eq!(said.len(), 1, "said once: {:#?}", tern.stderr());
    assert!(tern.has_said("driver=epoll"), "{:#?}", tern.stderr());
    // Several connections, so that more than one worker is likely to answer.
    for i in 0..12 {
        let r = tern.connect().roundtrip(&get(&format!("/on-epoll/{i}")));
        assert_eq!((r.status, r.body_str()), (200, format!("/on-epoll/{i}")));
    }
}
