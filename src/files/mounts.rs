//! Whether a static root lies on, or holds, a filesystem that answers over
//! a network or from a user-space process (NFS, SMB, FUSE, ...): there a
//! lookup can wait without bound (an NFS server gone, a hard mount), so
//! names its caches don't hold are always opened off the worker
//! (`lookups.rs`). Read from `/proc/self/mountinfo` when the root is
//! opened or followed to a new directory; without `/proc`, local.

use std::path::Path;

/// Filesystem types whose lookups may wait on something other than a local
/// disk. `fuse` also stands for every `fuse.NAME` (sshfs, s3fs, ...).
const NETWORK_TYPES: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "9p",
    "ceph",
    "afs",
    "glusterfs",
    "lustre",
    "gfs2",
    "ocfs2",
    "virtiofs",
    "fuse",
    "fuseblk",
];

/// Whether `root` (its path with symlinks resolved) is on such a
/// filesystem, or one is mounted beneath it.
pub fn network_under(root: &Path) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .is_ok_and(|mountinfo| network_in(&mountinfo, root))
}

/// `network_under` for a given mountinfo text.
fn network_in(mountinfo: &str, root: &Path) -> bool {
    let mounts: Vec<(String, &str)> = mountinfo.lines().filter_map(mount_of).collect();
    // The mount the root itself is on: the deepest one holding it.
    let holding = mounts
        .iter()
        .filter(|(point, _)| root.starts_with(point))
        .max_by_key(|(point, _)| point.len());
    let beneath = mounts
        .iter()
        .filter(|(point, _)| Path::new(point).starts_with(root) && Path::new(point) != root);
    holding
        .into_iter()
        .chain(beneath)
        .any(|(_, kind)| is_network(kind))
}

/// A mountinfo line's mount point and filesystem type: fields 5 and the
/// first after the " - " separator (proc(5)).
fn mount_of(line: &str) -> Option<(String, &str)> {
    let (mount, fs) = line.split_once(" - ")?;
    let point = mount.split(' ').nth(4)?;
    let kind = fs.split(' ').next()?;
    Some((unescape(point), kind))
}

fn is_network(kind: &str) -> bool {
    NETWORK_TYPES.contains(&kind) || kind.starts_with("fuse.")
}

/// mountinfo writes space, tab, newline and backslash as `\NNN` (octal).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let octal = bytes.get(at + 1..at + 4).and_then(|digits| {
            let text = std::str::from_utf8(digits).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[at], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                at += 4;
            }
            (byte, _) => {
                out.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
30 27 0:40 / /srv/www/media rw,relatime - nfs4 files:/media rw,vers=4.2
31 27 0:41 / /mnt/share\\040one rw,relatime - fuse.sshfs me@host:/ rw
32 27 0:42 / /var/cache/tern rw,relatime - tmpfs tmpfs rw
";

    #[test]
    fn a_root_on_a_local_disk_with_nothing_mounted_beneath_is_local() {
        assert!(!network_in(MOUNTINFO, Path::new("/var/www")));
        assert!(!network_in(MOUNTINFO, Path::new("/var/cache/tern/site")));
    }

    #[test]
    fn a_root_holding_a_network_mount_is_not_local() {
        assert!(network_in(MOUNTINFO, Path::new("/srv/www")));
        assert!(network_in(MOUNTINFO, Path::new("/srv/www/media/2026")));
        // A sibling whose name starts alike is not beneath it.
        assert!(!network_in(MOUNTINFO, Path::new("/srv/www/med")));
    }

    #[test]
    fn fuse_mounts_count_and_escaped_mount_points_are_read() {
        assert!(network_in(MOUNTINFO, Path::new("/mnt/share one/site")));
        assert!(!network_in(MOUNTINFO, Path::new("/mnt/share")));
    }
}
