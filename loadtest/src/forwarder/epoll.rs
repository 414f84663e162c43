//! The few epoll calls the forwarder needs, wrapped so the loop itself has
//! no `unsafe`. Level-triggered only: a readable socket is read once per
//! wake-up, and what is left is reported again by the next `epoll_wait`,
//! so no read is spent just to see EAGAIN (as edge-triggered would need).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub const IN: u32 = libc::EPOLLIN as u32;
pub const OUT: u32 = libc::EPOLLOUT as u32;
/// Reported whatever the interest: the socket was reset or is shut down both ways.
pub const FAILED: u32 = (libc::EPOLLERR | libc::EPOLLHUP) as u32;

pub struct Epoll(OwnedFd);

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers; a non-negative result is a
        // new descriptor that nothing else owns.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nobody else.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Watches `fd` for `interest` (IN / OUT); events carry `token`.
    pub fn add(&self, fd: RawFd, interest: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, interest, token)
    }

    /// Changes what `fd` is watched for.
    pub fn modify(&self, fd: RawFd, interest: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, interest, token)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, interest: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: interest,
            u64: token,
        };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call;
        // the kernel checks both descriptors.
        let rc = unsafe { libc::epoll_ctl(self.0.as_raw_fd(), op, fd, &mut ev) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Blocks until at least one event; fills `events` with them (its
    /// capacity is the most returned at once). EINTR gives no events.
    pub fn wait(&self, events: &mut Vec<libc::epoll_event>) -> io::Result<()> {
        events.clear();
        let cap = events.capacity().clamp(1, libc::c_int::MAX as usize);
        // SAFETY: the kernel writes at most `cap` events into the vector's
        // spare capacity; `set_len` then covers exactly what it wrote.
        let n = unsafe {
            libc::epoll_wait(
                self.0.as_raw_fd(),
                events.as_mut_ptr(),
                cap as libc::c_int,
                -1,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(e)
            };
        }
        // SAFETY: 0 <= n <= cap, and the first n entries were initialized by
        // the kernel.
        unsafe { events.set_len(n as usize) };
        Ok(())
    }
}
