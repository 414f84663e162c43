#!/usr/bin/env python3
"""bench/tls_latency.sh's engine: where the time of a request on a new TLS connection goes, tern
next to nginx and HAProxy (tuned templates, 1 worker, pinned to the last CPU; clients on the
others).

wrk's latency starts when it writes the request, after its handshake, so in the https-close and
https-resume scenarios it leaves out the handshake's wait. Here each of P client processes opens
connections one after another (TLS 1.3, resuming the previous session unless --full), and times
the handshake and the request (GET /, 100 B) apart. Medians over rounds of each process's p50
and p99, for handshake, request and the two together. Everything listens on 127.0.0.1."""
import multiprocessing
import os
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import targets as tg  # noqa: E402

REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


def parse_args(argv):
    p = tg.proxy_parser("bench/tls_latency.sh", __doc__)
    p.add_argument("--clients", type=int, default=12, help="client processes at once (default 12)")
    p.add_argument("--connections", type=int, default=150, help="connections per client per round (default 150)")
    p.add_argument("--rounds", type=int, default=2, help="rounds in rotation (default 2)")
    p.add_argument("--full", action="store_true", help="a full handshake every time (default: resume)")
    a = tg.parse_proxy_args(p, argv)
    return a


def percentile(sorted_ms, q):
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * q))]


def one_client(port, count, resume, cpus):
    """Connections one after another; returns (handshake, request, total) lists in ms."""
    os.sched_setaffinity(0, cpus)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    session, times = None, ([], [], [])
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.perf_counter()
        tls = ctx.wrap_socket(sock, server_hostname="localhost", session=session)
        shaken = time.perf_counter()
        tls.sendall(REQUEST)
        while tls.recv(65536):
            pass
        done = time.perf_counter()
        session = tls.session if resume else None
        tls.close()
        for kept, ms in zip(times, ((shaken - start) * 1e3, (done - shaken) * 1e3, (done - start) * 1e3)):
            kept.append(ms)
    return times


def one_round(port, a, cpus):
    # spawn, not fork: a forked worker would inherit procs' exit and signal handlers, and stop
    # the servers when the pool ends it.
    with multiprocessing.get_context("spawn").Pool(a.clients) as pool:
        runs = pool.starmap(one_client, [(port, a.connections, not a.full, cpus)] * a.clients)
    figures = []
    for part in range(3):
        p50s = [percentile(sorted(run[part]), 0.5) for run in runs]
        p99s = [percentile(sorted(run[part]), 0.99) for run in runs]
        figures.append((sorted(p50s)[len(p50s) // 2], sorted(p99s)[len(p99s) // 2]))
    return figures


def main(argv):
    a = parse_args(argv)
    base = f"/tmp/tern-bench-tlslat-{os.getpid()}"
    os.makedirs(base, exist_ok=True)
    tls = tg.make_tls_cert(base)
    cpus = sorted(os.sched_getaffinity(0))
    servers, clients = str(cpus[-1]), set(cpus[:-1] or cpus)
    origin = tg.start_origin("loadtest", a.root, base, 1, servers)
    proxies = {}
    try:
        for name in a.proxies:
            proxies[name] = tg.start_proxy(name, a.root, base, 1, servers, origin.port, tls=tls)
        rounds = {name: [] for name in a.proxies}
        for _ in range(a.rounds):
            for name, target in proxies.items():
                rounds[name].append(one_round(target.tls_port, a, clients))
    finally:
        for target in proxies.values():
            target.stop()
        origin.stop()
    kind = "full handshake" if a.full else "resumed session"
    print(f"\n{a.clients} clients x {a.connections} connections, {kind}, {a.rounds} rounds; "
          "ms, median over clients (p50 · p99), median over rounds\n")
    print("| proxy | handshake p50 · p99 | request p50 · p99 | both p50 · p99 |\n|---|---:|---:|---:|")
    for name, runs in rounds.items():
        cells = []
        for part in range(3):
            p50 = sorted(r[part][0] for r in runs)[len(runs) // 2]
            p99 = sorted(r[part][1] for r in runs)[len(runs) // 2]
            cells.append(f"{p50:.2f} · {p99:.2f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
