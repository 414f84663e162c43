//! Socket setup that std and monoio don't expose: listeners with a real
//! backlog and SO_REUSEPORT, client sockets bound to a chosen loopback
//! source address, and the open-file limit.

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;

/// Resolves `addr` and refuses anything off the loopback network: this
/// tool generates floods and must never point one at another machine.
pub fn loopback_addr(addr: &str) -> Result<SocketAddr, String> {
    let resolved = addr
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {addr}: {e}"))?
        .next()
        .ok_or(format!("{addr} resolves to nothing"))?;
    if !resolved.ip().is_loopback() {
        return Err(format!(
            "{addr} is not a loopback address; refusing to send load there"
        ));
    }
    Ok(resolved)
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.
pub fn raise_nofile() -> io::Result<libc::rlim_t> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a valid, owned struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(io::Error::last_os_error());
        }
        lim.rlim_cur = lim.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(lim.rlim_cur)
}

/// A non-blocking listener. The backlog is large because a load generator
/// ramping thousands of connects per second would otherwise overflow std's
/// default of 128 and see one-second SYN retransmits instead of the server.
pub fn listener(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    if reuse_port {
        sock.set_reuse_port(true)?;
    }
    sock.bind(&addr.into())?;
    sock.listen(4096)?;
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}

/// The `i`-th client's source address among 127.0.0.1..=127.0.0.K.
/// Each source has its own ephemeral port range toward a destination, so
/// K sources allow K times more connections to one proxy port.
pub fn source_ip(i: usize, sources: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 1 + (i % sources.clamp(1, 254)) as u8)
}

/// Connects to `target` from `source` (port chosen by the kernel).
pub async fn connect_from(
    source: Ipv4Addr,
    target: SocketAddr,
) -> io::Result<monoio::net::TcpStream> {
    let sock = Socket::new(
        Domain::for_address(target),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    if target.is_ipv4() {
        // Defer the port choice to connect(): bind() alone would have to
        // pick a port unique for every destination and run out at ~28k.
        set_bind_no_port(&sock)?;
        sock.bind(&SocketAddr::new(IpAddr::V4(source), 0).into())?;
    }
    sock.set_nonblocking(true)?;
    sock.set_nodelay(true)?;
    match sock.connect(&SockAddr::from(target)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let fd = sock.as_raw_fd();
    let stream = monoio::net::TcpStream::from_std(std::net::TcpStream::from(sock))?;
    // A non-blocking connect is done when the socket turns writable;
    // SO_ERROR then says whether it succeeded.
    stream.writable(false).await?;
    match take_error(fd)? {
        0 => Ok(stream),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

fn set_bind_no_port(sock: &Socket) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: valid fd and a c_int option value of the right size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn take_error(fd: i32) -> io::Result<i32> {
    let mut err: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: valid fd; `err`/`len` are a correctly sized out-parameter.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            &mut err as *mut libc::c_int as *mut libc::c_void,
            &mut len,
        )
    };
    if rc == 0 {
        Ok(err)
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_cycle_over_loopback() {
        assert_eq!(source_ip(0, 4), Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(source_ip(5, 4), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(source_ip(5, 0), Ipv4Addr::new(127, 0, 0, 1));
    }

    #[test]
    fn refuses_non_loopback_targets() {
        assert!(loopback_addr("127.0.0.1:80").is_ok());
        assert!(loopback_addr("127.0.0.9:80").is_ok());
        assert!(loopback_addr("10.0.0.1:80").is_err());
    }
}
