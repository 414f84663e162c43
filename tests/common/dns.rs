//! A real DNS server for the discovery tests: dnsmasq on a loopback port,
//! answering only from a hosts file the test writes (and SRV records given
//! at start). `set_hosts` rewrites the file and sends SIGHUP, which makes
//! dnsmasq read it again. The process is ended by its PID on drop.

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::*;

pub const DNSMASQ: &str = "/usr/sbin/dnsmasq";

pub struct Dnsmasq {
    child: Child,
    pub addr: SocketAddr,
    hosts: TempFile,
}

impl Dnsmasq {
    /// Starts dnsmasq with `hosts` as its only hosts file; names under
    /// `.test` it does not know are answered "no such name".
    pub fn start(hosts: &str, extra: &[String]) -> Dnsmasq {
        assert!(
            std::path::Path::new(DNSMASQ).exists(),
            "{DNSMASQ} is missing: apt-get install dnsmasq-base"
        );
        let hosts = TempFile::new("hosts", hosts);
        for _ in 0..5 {
            let port = free_udp_port();
            let mut child = Command::new(DNSMASQ)
                .args([
                    "--keep-in-foreground",
                    "--conf-file=/dev/null",
                    "--no-resolv",
                    "--no-hosts",
                    "--listen-address=127.0.0.1",
                    "--bind-interfaces",
                    "--local=/test/",
                    "--local-ttl=1",
                    "--pid-file=",
                    "--user=root",
                    "--log-facility=-",
                ])
                .arg(format!("--port={port}"))
                .arg(format!("--addn-hosts={}", hosts.path_str()))
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn dnsmasq");
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let up = wait_until(Duration::from_secs(5), || {
                matches!(child.try_wait(), Ok(None)) && TcpStream::connect(addr).is_ok()
            });
            if up {
                return Dnsmasq { child, addr, hosts };
            }
            // The port was taken meanwhile: try another.
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("dnsmasq did not start");
    }

    /// Rewrites the hosts file and has dnsmasq read it again.
    pub fn set_hosts(&self, hosts: &str) {
        std::fs::write(&self.hosts.path, hosts).expect("write hosts");
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-HUP", &pid]).status();
        assert!(status.is_ok_and(|s| s.success()), "SIGHUP dnsmasq");
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    socket.local_addr().expect("local addr").port()
}
