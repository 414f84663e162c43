//! The accept queue of a listening socket: connections the kernel has
//! completed that the worker has not accepted yet. tern queues nothing
//! itself (no request waits for a server slot), so this is the queue that
//! can grow when a worker falls behind.

use std::os::fd::RawFd;

/// `TCP_LISTEN` of the kernel's tcp_states.h (libc doesn't export it).
const TCP_LISTEN: u8 = 10;

/// Connections waiting to be accepted on `fd`; `None` if the kernel won't
/// say (not a TCP socket, closed).
pub fn accept_queue_len(fd: RawFd) -> Option<u64> {
    // SAFETY: tcp_info is plain old data; all zeroes is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the pointer and length describe `info`, which outlives the call.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    // For a listening socket Linux reports the accept queue in tcpi_unacked.
    (rc == 0 && info.tcpi_state == TCP_LISTEN).then_some(u64::from(info.tcpi_unacked))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn counts_connections_not_yet_accepted() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let fd = listener.as_raw_fd();
        assert_eq!(accept_queue_len(fd), Some(0));
        let addr = listener.local_addr().expect("addr");
        let _a = std::net::TcpStream::connect(addr).expect("connect");
        let _b = std::net::TcpStream::connect(addr).expect("connect");
        assert_eq!(accept_queue_len(fd), Some(2));
        let _accepted = listener.accept().expect("accept");
        assert_eq!(accept_queue_len(fd), Some(1));
    }

    #[test]
    fn a_connected_socket_is_not_a_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let stream =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        assert_eq!(accept_queue_len(stream.as_raw_fd()), None);
    }
}
