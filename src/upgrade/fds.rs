//! Sending descriptors over a Unix socket (SCM_RIGHTS): one message is a
//! line of text with the descriptors it describes attached.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

/// Most descriptors one message carries (the kernel's SCM_MAX_FD is 253).
pub const MAX_FDS: usize = 250;
/// Longest text part of a message.
pub const MAX_TEXT: usize = 4096;

fn control_len(fds: usize) -> usize {
    // SAFETY: CMSG_SPACE is arithmetic on its argument.
    unsafe { libc::CMSG_SPACE((fds * size_of::<RawFd>()) as u32) as usize }
}

/// Sends `text` with `fds` attached.
pub fn send(stream: &UnixStream, text: &[u8], fds: &[RawFd]) -> io::Result<()> {
    if fds.len() > MAX_FDS || text.is_empty() || text.len() > MAX_TEXT {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "message too large",
        ));
    }
    let mut iov = libc::iovec {
        iov_base: text.as_ptr() as *mut libc::c_void,
        iov_len: text.len(),
    };
    // u64s: the control buffer must be aligned for cmsghdr.
    let mut control = vec![0u64; control_len(fds.len()).div_ceil(8)];
    // SAFETY: msghdr is plain data; every pointer set below points into
    // buffers that outlive the sendmsg call, with their true lengths.
    let sent = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if !fds.is_empty() {
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = control_len(fds.len()) as _;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of_val(fds) as u32) as _;
            std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(cmsg).cast(), fds.len());
        }
        libc::sendmsg(stream.as_raw_fd(), &msg, libc::MSG_NOSIGNAL)
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    if sent as usize != text.len() {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "short send"));
    }
    Ok(())
}

/// Receives one message: its text and the descriptors attached (owned, so
/// they close unless kept). Empty text: the peer closed.
pub fn recv(stream: &UnixStream) -> io::Result<(Vec<u8>, Vec<OwnedFd>)> {
    let mut text = vec![0u8; MAX_TEXT];
    let mut iov = libc::iovec {
        iov_base: text.as_mut_ptr().cast(),
        iov_len: text.len(),
    };
    let mut control = vec![0u64; control_len(MAX_FDS).div_ceil(8)];
    // SAFETY: as in `send`; recvmsg writes at most the lengths given.
    let (received, msg) = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control_len(MAX_FDS) as _;
        let n = libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
        (n, msg)
    };
    if received < 0 {
        return Err(io::Error::last_os_error());
    }
    // Own the descriptors first, so they close even if the message is bad.
    let fds = attached(&msg);
    if msg.msg_flags & (libc::MSG_CTRUNC | libc::MSG_TRUNC) != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "message truncated",
        ));
    }
    text.truncate(received as usize);
    Ok((text, fds))
}

/// The SCM_RIGHTS descriptors of a received message.
fn attached(msg: &libc::msghdr) -> Vec<OwnedFd> {
    let mut fds = Vec::new();
    // SAFETY: walks the control buffer recvmsg filled, with the CMSG
    // macros, reading only within each header's length.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                let bytes = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                for i in 0..bytes / size_of::<RawFd>() {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    fds
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};

    #[test]
    fn descriptors_arrive_with_their_text() {
        let (a, b) = UnixStream::pair().expect("pair");
        let mut file = tempfile_with(b"hello");
        send(&a, b"one file", &[file.as_raw_fd()]).expect("send");
        let (text, fds) = recv(&b).expect("recv");
        assert_eq!(text, b"one file");
        assert_eq!(fds.len(), 1);
        let mut received = std::fs::File::from(fds.into_iter().next().expect("fd"));
        let mut read = String::new();
        received.rewind().expect("rewind");
        received.read_to_string(&mut read).expect("read");
        assert_eq!(read, "hello");
        file.write_all(b"!").expect("write");
    }

    fn tempfile_with(bytes: &[u8]) -> std::fs::File {
        let path = std::env::temp_dir().join(format!("tern-fds-{}", std::process::id()));
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .expect("open");
        let _ = std::fs::remove_file(&path);
        file.write_all(bytes).expect("write");
        file
    }
}
