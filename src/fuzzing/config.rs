//! A configuration file: TOML parsed into the schema, then validated and
//! built into a plan, as `tern --check` and a reload do. Every failure must
//! be a `ConfigError` naming the problem, never a panic.
//!
//! Building a plan reaches outside the process in a few places: it creates
//! log files, resolves host names and reads certificates. A fuzzer must do
//! none of that with the paths and names it makes up (it runs as whatever
//! user started it), so between parsing and building those settings are
//! pointed at harmless stand-ins that take the same code paths.

use std::path::PathBuf;

use crate::config::schema::{ConfigFile, OneOrMany};

pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut file = match crate::config::parse(text, "fuzz.toml") {
        Ok(file) => file,
        Err(err) => {
            assert!(!err.message.is_empty(), "an error without a message");
            return;
        }
    };
    sandbox(&mut file);
    if let Err((key, message)) = crate::config::plan::build(&file) {
        assert!(!message.is_empty(), "an error without a message at {key}");
    }
}

/// Points everything that would touch the world at stand-ins.
fn sandbox(file: &mut ConfigFile) {
    for path in [&mut file.log.access, &mut file.log.error] {
        if path.starts_with('/') {
            *path = scratch_file().display().to_string();
        }
    }
    for listener in &mut file.listeners {
        match &mut listener.bind {
            OneOrMany::One(one) => no_lookup(one),
            OneOrMany::Many(many) => many.iter_mut().for_each(no_lookup),
        }
        for files in listener.tls.iter_mut().flat_map(|t| &mut t.certificates) {
            files.cert = missing_file();
            files.key = missing_file();
        }
    }
    for backend in file.backends.values_mut() {
        for server in &mut backend.servers {
            if let Some(address) = &mut server.0.address {
                no_lookup(address);
            }
        }
        if backend.tls_ca.is_some() {
            backend.tls_ca = Some(missing_file());
        }
    }
}

/// An address that would need a name lookup gets a loopback IP instead;
/// one that fails before any lookup is left as it is.
fn no_lookup(address: &mut String) {
    if address.parse::<std::net::SocketAddr>().is_ok() {
        return;
    }
    if let Some((host, port)) = address.rsplit_once(':') {
        if !host.is_empty() && port.parse::<u16>().is_ok() {
            *address = format!("127.0.0.1:{port}");
        }
    }
}

/// A log file the fuzzer may create and append to: one, in the temp dir.
fn scratch_file() -> PathBuf {
    std::env::temp_dir().join("tern-fuzz-config.log")
}

fn missing_file() -> String {
    std::env::temp_dir()
        .join("tern-fuzz-no-such-file.pem")
        .display()
        .to_string()
}
