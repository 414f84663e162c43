//! scripts/install.sh, run against a temporary root (--destdir), never the real system: the
//! files it lays down, idempotence (a user's config is never overwritten), uninstall and purge,
//! refusing a broken config, --dry-run, and `systemd-analyze verify` on the unit where present.
//! The binary under test is passed with --binary, so nothing is built here.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/install.sh");
const TERN: &str = env!("CARGO_BIN_EXE_tern");

/// A fresh directory under the system temp dir, removed on drop.
struct Root(PathBuf);

impl Root {
    fn new(name: &str) -> Root {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "tern-install-{}-{}-{}",
            name,
            std::process::id(),
            nanos
        ));
        fs::create_dir_all(&dir).unwrap();
        Root(dir)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel.trim_start_matches('/'))
    }

    fn arg(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn install(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(SCRIPT)
        .args(args)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("run scripts/install.sh")
}

fn all(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(out: Output) -> String {
    let text = all(&out);
    assert!(
        out.status.success(),
        "install.sh exit {:?}:\n{}",
        out.status,
        text
    );
    text
}

/// Installs the test's tern binary into `root` with the default prefix.
fn install_into(root: &Root) -> String {
    ok(install(&["--destdir", root.arg(), "--binary", TERN]))
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {}", p.display(), e))
        .permissions()
        .mode()
        & 0o7777
}

fn check_config(path: &Path) -> Output {
    Command::new(TERN)
        .args(["--check", "--config", path.to_str().unwrap()])
        .output()
        .unwrap()
}

const REQUIRED_UNIT_LINES: &[&str] = &[
    "Type=simple",
    "KillSignal=SIGTERM",
    "TimeoutStopSec=30",
    "Restart=on-failure",
    "User=tern",
    "Group=tern",
    "LimitNOFILE=1048576",
    "LimitMEMLOCK=infinity",
    "AmbientCapabilities=CAP_NET_BIND_SERVICE",
    "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "ReadWritePaths=/var/log/tern",
    "ProtectKernelTunables=yes",
    "ProtectControlGroups=yes",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    "LockPersonality=yes",
    "MemoryDenyWriteExecute=yes",
    "SystemCallArchitectures=native",
    "ExecReload=/bin/kill -HUP $MAINPID",
];

/// The unit's directive lines (comments and blanks dropped).
fn unit_lines(unit: &str) -> Vec<&str> {
    unit.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

fn assert_unit(unit: &str, bin: &str) {
    let lines = unit_lines(unit);
    for want in REQUIRED_UNIT_LINES {
        assert!(lines.contains(want), "unit lacks {:?}:\n{}", want, unit);
    }
    let config = "--config /etc/tern/tern.toml";
    for want in [
        format!("ExecStartPre={bin} --check {config}"),
        format!("ExecStart={bin} {config}"),
        format!("ExecReload={bin} --check {config}"),
    ] {
        assert!(
            lines.contains(&want.as_str()),
            "unit lacks {:?}:\n{}",
            want,
            unit
        );
    }
    // The check runs before the SIGHUP: ExecReload lines run in order.
    let reloads: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("ExecReload="))
        .collect();
    assert_eq!(reloads.len(), 2, "{:?}", reloads);
    assert!(reloads[0].contains("--check"), "{:?}", reloads);
    // TimeoutStopSec above tern's default 10 s shutdown grace.
    assert!(!lines.iter().any(|l| l.starts_with("Type=notify")));
}

/// `systemd-analyze verify` on the unit, when systemd-analyze exists. The unit names the
/// binary at its final path, which in a --destdir install is not on this machine, so the check
/// runs on a copy pointing at the binary actually laid down (everything else unchanged).
/// Returns false (with a note) when systemd-analyze is not installed.
fn systemd_verify(root: &Root, unit_text: &str, bin: &str) -> bool {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("note: systemd-analyze not installed; `systemd-analyze verify` not run");
        return false;
    }
    let installed = root.path(bin);
    let dir = root.path("verify");
    fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("tern.service");
    fs::write(&copy, unit_text.replace(bin, installed.to_str().unwrap())).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", copy.to_str().unwrap()])
        .output()
        .unwrap();
    let text = all(&out);
    // verify exits 0 on unknown keys and unparsable values, only warning: any line about our
    // unit is a failure. (Lines about the rest of the machine's setup are not ours to judge.)
    let ours: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("tern.service"))
        .collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify {:?}:\n{}",
        out.status,
        text
    );
    true
}

#[test]
fn install_lays_down_binary_unit_config_and_log_dir() {
    let root = Root::new("files");
    let log = install_into(&root);

    let bin = root.path("/usr/local/bin/tern");
    assert_eq!(mode(&bin), 0o755, "binary mode");
    assert_eq!(
        fs::read(&bin).unwrap(),
        fs::read(TERN).unwrap(),
        "binary copied"
    );
    let v = Command::new(&bin).arg("--version").output().unwrap();
    assert!(v.status.success(), "installed binary runs: {}", all(&v));

    let unit_path = root.path("/etc/systemd/system/tern.service");
    assert_eq!(mode(&unit_path), 0o644, "unit mode");
    let unit = fs::read_to_string(&unit_path).unwrap();
    assert_unit(&unit, "/usr/local/bin/tern");

    let conf = root.path("/etc/tern/tern.toml");
    assert_eq!(
        fs::read_to_string(&conf).unwrap(),
        fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/quickstart.toml"
        ))
        .unwrap(),
        "example config is config/quickstart.toml"
    );
    let check = check_config(&conf);
    assert!(
        check.status.success(),
        "installed config valid: {}",
        all(&check)
    );

    let logs = root.path("/var/log/tern");
    assert!(logs.is_dir(), "log directory");
    assert_eq!(mode(&logs), 0o750, "log directory mode");

    // Every step printed; the check ran; nothing touched outside the destdir.
    for want in [
        "+ install -D -m 0755",
        "--check --config",
        "is valid",
        "would create system user",
    ] {
        assert!(log.contains(want), "output lacks {:?}:\n{}", want, log);
    }
    assert!(
        !log.contains("+ systemctl"),
        "systemctl run in a destdir install:\n{log}"
    );
    assert!(
        !log.contains("+ useradd"),
        "useradd run in a destdir install:\n{log}"
    );

    systemd_verify(&root, &unit, "/usr/local/bin/tern");
}

#[test]
fn prefix_moves_the_binary_and_every_exec_line() {
    let root = Root::new("prefix");
    ok(install(&[
        "--destdir",
        root.arg(),
        "--prefix",
        "/opt/tern/",
        "--binary",
        TERN,
    ]));
    let bin = root.path("/opt/tern/bin/tern");
    assert_eq!(mode(&bin), 0o755);
    assert!(!root.path("/usr/local/bin/tern").exists());
    let unit = fs::read_to_string(root.path("/etc/systemd/system/tern.service")).unwrap();
    assert_unit(&unit, "/opt/tern/bin/tern");
    assert!(
        !unit.contains("/usr/local/bin"),
        "old prefix left in the unit:\n{unit}"
    );
    if !systemd_verify(&root, &unit, "/opt/tern/bin/tern") {
        // Without systemd-analyze, at least every Exec line names an absolute path.
        for l in unit_lines(&unit).iter().filter(|l| l.starts_with("Exec")) {
            assert!(l.split_once('=').unwrap().1.starts_with('/'), "{l}");
        }
    }
}

#[test]
fn installing_twice_keeps_a_modified_config() {
    let root = Root::new("twice");
    install_into(&root);
    let conf = root.path("/etc/tern/tern.toml");
    let mine = fs::read_to_string(&conf)
        .unwrap()
        .replace("127.0.0.1:8080", "127.0.0.1:8181")
        + "# edited by the operator\n";
    fs::write(&conf, &mine).unwrap();
    // A unit removed by hand and a stale binary are put back.
    fs::remove_file(root.path("/etc/systemd/system/tern.service")).unwrap();
    fs::write(root.path("/usr/local/bin/tern"), b"stale").unwrap();

    let log = install_into(&root);
    assert!(log.contains("exists; kept"), "{log}");
    assert_eq!(
        fs::read_to_string(&conf).unwrap(),
        mine,
        "config overwritten"
    );
    assert_eq!(
        fs::read(root.path("/usr/local/bin/tern")).unwrap(),
        fs::read(TERN).unwrap()
    );
    assert!(root.path("/etc/systemd/system/tern.service").is_file());
    assert!(root.path("/var/log/tern").is_dir());

    // And a third run, with nothing to change, still succeeds.
    install_into(&root);
    assert_eq!(fs::read_to_string(&conf).unwrap(), mine);
}

#[test]
fn uninstall_keeps_config_and_logs_purge_removes_them() {
    let root = Root::new("uninstall");
    install_into(&root);
    fs::write(root.path("/var/log/tern/tern.log"), b"a log line\n").unwrap();

    let log = ok(install(&["--destdir", root.arg(), "--uninstall"]));
    assert!(
        !root.path("/usr/local/bin/tern").exists(),
        "binary left:\n{log}"
    );
    assert!(
        !root.path("/etc/systemd/system/tern.service").exists(),
        "unit left"
    );
    assert!(root.path("/etc/tern/tern.toml").is_file(), "config removed");
    assert!(
        root.path("/var/log/tern/tern.log").is_file(),
        "logs removed"
    );
    assert!(
        !log.contains("+ systemctl"),
        "systemctl run in a destdir uninstall:\n{log}"
    );

    // Uninstalling what is not there is not an error.
    ok(install(&["--destdir", root.arg(), "--uninstall"]));

    let log = ok(install(&[
        "--destdir",
        root.arg(),
        "--uninstall",
        "--purge",
    ]));
    assert!(!root.path("/etc/tern").exists(), "/etc/tern left:\n{log}");
    assert!(!root.path("/var/log/tern").exists(), "/var/log/tern left");
    assert!(
        !log.contains("+ userdel"),
        "userdel run in a destdir uninstall:\n{log}"
    );
}

#[test]
fn a_broken_config_fails_the_install_with_terns_message() {
    let root = Root::new("broken");
    let conf = root.path("/etc/tern/tern.toml");
    fs::create_dir_all(conf.parent().unwrap()).unwrap();
    let broken = "[[listener]]\nbind = \"127.0.0.1:8080\"\n\n[[route]]\nbackend = \"nowhere\"\n";
    fs::write(&conf, broken).unwrap();

    let out = install(&["--destdir", root.arg(), "--binary", TERN]);
    let text = all(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "install of a broken config:\n{text}"
    );
    // tern's own one-line error, naming the file, then the script's.
    let tern_says = all(&check_config(&conf));
    let first = tern_says.lines().next().unwrap();
    assert!(first.starts_with("tern: "), "{tern_says}");
    assert!(text.contains(first), "tern's message not shown:\n{text}");
    assert!(text.contains("is not valid"), "{text}");
    assert_eq!(
        fs::read_to_string(&conf).unwrap(),
        broken,
        "config replaced"
    );
}

#[test]
fn dry_run_prints_the_steps_and_changes_nothing() {
    let root = Root::new("dry");
    for args in [
        vec!["--destdir", root.arg(), "--binary", TERN, "--dry-run"],
        vec![
            "--destdir",
            root.arg(),
            "--uninstall",
            "--purge",
            "--dry-run",
        ],
    ] {
        let log = ok(install(&args));
        assert!(log.contains("+ "), "no steps printed:\n{log}");
        assert_eq!(
            fs::read_dir(&root.0).unwrap().count(),
            0,
            "--dry-run wrote into the destdir:\n{log}"
        );
    }
}

#[test]
fn bad_arguments_are_refused_and_the_script_is_shellcheck_clean() {
    let root = Root::new("args");
    for args in [
        vec!["--bogus"],
        vec!["--purge"],
        vec!["--prefix", "relative/path"],
        vec!["--prefix", "/opt/has space"],
    ] {
        let mut all_args = vec!["--destdir", root.arg(), "--binary", TERN];
        all_args.extend(args.iter());
        let out = install(&all_args);
        assert_eq!(out.status.code(), Some(2), "{:?}: {}", args, all(&out));
    }
    assert_eq!(fs::read_dir(&root.0).unwrap().count(), 0);

    let help = ok(install(&["--help"]));
    for want in [
        "--destdir",
        "--prefix",
        "--uninstall",
        "--purge",
        "--dry-run",
    ] {
        assert!(help.contains(want), "--help lacks {want}:\n{help}");
    }

    match Command::new("shellcheck").arg(SCRIPT).output() {
        Ok(out) => assert!(out.status.success(), "shellcheck:\n{}", all(&out)),
        Err(_) => println!("note: shellcheck not installed; not run"),
    }
}

const UNIT_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/tern.service");
const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/quickstart.toml");

/// The directories the unit's sandbox leaves writable: with `ProtectSystem=strict` only
/// `ReadWritePaths=`, the directories systemd makes for the service (`RuntimeDirectory=tern`
/// is /run/tern, and so on), and a private /tmp.
fn writable_under(unit: &str) -> Vec<String> {
    let lines = unit_lines(unit);
    assert!(lines.contains(&"ProtectSystem=strict"), "{unit}");
    let mut writable = Vec::new();
    for line in lines {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let base = match key {
            "ReadWritePaths" => "",
            "RuntimeDirectory" => "/run/",
            "StateDirectory" => "/var/lib/",
            "LogsDirectory" => "/var/log/",
            "CacheDirectory" => "/var/cache/",
            "PrivateTmp" if value == "yes" => {
                writable.push("/tmp".to_owned());
                continue;
            }
            _ => continue,
        };
        for dir in value.split_whitespace() {
            writable.push(format!("{base}{}", dir.trim_start_matches('-')));
        }
    }
    writable
}

/// Every `KEY = "/absolute/path"` for the keys tern writes to, in `text`.
fn written_paths(text: &str) -> Vec<String> {
    let keys = ["pid_file", "upgrade_socket", "access", "error"];
    text.lines()
        .map(|l| l.trim_start_matches(['#', ' ']))
        .filter_map(|l| l.split_once('='))
        .filter(|(key, _)| keys.contains(&key.trim()))
        .filter_map(|(_, value)| value.trim().strip_prefix("\"/"))
        .filter_map(|value| value.split_once('"'))
        .map(|(path, _)| format!("/{path}"))
        .collect()
}

#[test]
fn the_paths_readme_suggests_are_writable_under_the_units_sandbox() {
    let unit = fs::read_to_string(UNIT_FILE).unwrap();
    let writable = writable_under(&unit);
    let readme = fs::read_to_string(README).unwrap();
    let example = fs::read_to_string(EXAMPLE).unwrap();
    let suggested: Vec<String> = written_paths(&readme)
        .into_iter()
        .chain(written_paths(&example))
        .collect();
    for want in [
        "/run/tern/tern.pid",
        "/run/tern/upgrade.sock",
        "/var/log/tern/error.log",
    ] {
        assert!(
            suggested.iter().any(|p| p == want),
            "{want} not suggested: {suggested:?}"
        );
    }
    for path in &suggested {
        let dir = Path::new(path).parent().unwrap();
        assert!(
            writable.iter().any(|w| dir.starts_with(w)),
            "{path} is suggested, but {} is not writable under the unit (writable: {writable:?})",
            dir.display()
        );
    }
}
