#!/usr/bin/env python3
"""bench/h2.sh's engine: HTTP/2 to clients, tern next to nginx and HAProxy, each terminating TLS
(ALPN h2) in front of one tern-loadtest origin spoken to in HTTP/1.1.

Two passes per proxy, each with a fresh proxy:
  throughput  h2load over TLS, C connections x M concurrent streams, small responses (GET /):
              requests/s, CPU microseconds per request (the proxy's utime+stime over the run);
              --rounds rounds, the proxies' order rotated, medians reported.
              In each mode (--modes): "defaults", each proxy as it ships plus only what HTTP/2
              needs (nginx `http2` on the listen line, HAProxy `alpn h2,http/1.1`; tern offers
              h2 on TLS unasked), and "tuned", configured alike (bench/templates/).
  held        S long-poll streams held at once (GET /poll/<ch>?timeout=...: the origin holds
              them), opened 100 per connection by a small Python h2 client: RSS before and with
              the streams held, and bytes per held stream. Tuned only: the pass sets each
              proxy's upstream timeout and connection limit to the streams it holds.
Writes bench/results/h2-latest.md. Everything listens on 127.0.0.1."""
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import procs  # noqa: E402
import targets as tg  # noqa: E402

STREAMS_PER_CONN = 100


def parse_args(argv):
    p = tg.proxy_parser("bench/h2.sh", __doc__)
    p.add_argument("--workers", type=int, default=1, help="proxy workers (default 1)")
    p.add_argument("--connections", type=int, default=10, help="h2load -c (default 10)")
    p.add_argument("--streams", type=int, default=100, help="h2load -m: streams per connection (default 100)")
    p.add_argument("--duration", type=int, default=10, help="h2load -D seconds (default 10)")
    p.add_argument("--rounds", type=int, default=3,
                   help="throughput rounds per mode, the proxies' order rotated each round; medians "
                        "reported (default 3)")
    p.add_argument("--held", type=int, default=9500, help="long-poll streams held at once (default 9500)")
    p.add_argument("--skip-held", action="store_true", help="throughput pass only")
    p.add_argument("--modes", default="defaults,tuned",
                   help="comma list of throughput modes: defaults, tuned (default both)")
    p.add_argument("--out", help="report directory (default bench/results)")
    a = tg.parse_proxy_args(p, argv)
    a.modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    if not a.modes or any(m not in ("defaults", "tuned") for m in a.modes):
        p.error(f"--modes: a comma list of defaults, tuned (got {','.join(a.modes) or 'nothing'})")
    a.out = a.out or os.path.join(a.root, "bench", "results")
    return a


def say(msg):
    print(msg, flush=True)


def h2load(port, a):
    cmd = ["h2load", "-c", str(a.connections), "-m", str(a.streams), "-D", str(a.duration),
           "-t", "1", f"https://127.0.0.1:{port}/"]
    cp = subprocess.run(cmd, capture_output=True, text=True, timeout=a.duration + 60)
    text = cp.stdout + cp.stderr
    rps = re.search(r"finished in [\d.]+\w*, ([\d.]+) req/s", text)
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed", text)
    proto = re.search(r"Application protocol: (\S+)", text)
    return {
        "rps": float(rps.group(1)) if rps else None,
        "done": int(done.group(1)) if done else 0,
        "ok": int(done.group(2)) if done else 0,
        "failed": int(done.group(3)) if done else None,
        "protocol": proto.group(1) if proto else "?",
        "raw": text[-2000:],
    }


def throughput(name, a, origin, base, tls, cpus, mode):
    t = tg.start_proxy(name, a.root, base, a.workers, cpus, origin.port, tls=tls, mode=mode)
    try:
        pids = t.pids()
        c0 = procs.cpu_ticks(pids)
        r = h2load(t.tls_port, a)
        c1 = procs.cpu_ticks(pids)
        cpu_s = (c1 - c0) / procs.CLK_TCK
        r["cpu_us_per_req"] = cpu_s * 1e6 / r["ok"] if r["ok"] else None
        return r
    finally:
        t.stop()


def hold_streams(port, n, timeout_s):
    """Opens n long-poll streams over TLS h2, 100 per connection; returns the sockets (held)."""
    import ssl

    import h2.config
    import h2.connection

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    held = []
    for c in range((n + STREAMS_PER_CONN - 1) // STREAMS_PER_CONN):
        sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                               server_hostname="localhost")
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        for k in range(min(STREAMS_PER_CONN, n - c * STREAMS_PER_CONN)):
            conn.send_headers(1 + 2 * k, [(":method", "GET"), (":path", f"/poll/h{c}-{k}?timeout={timeout_s}"),
                                          (":scheme", "https"), (":authority", "localhost")], end_stream=True)
        sock.sendall(conn.data_to_send())
        held.append((sock, conn))
    return held


def held_pass(name, a, origin, base, tls, cpus):
    # Each stream has its own upstream connection; the client connections carry
    # STREAMS_PER_CONN streams each. HAProxy sizes its descriptors from maxconn (two per
    # connection), so twice the streams would exceed the 20,000 files a process may open here.
    clients = -(-a.held // STREAMS_PER_CONN)
    t = tg.start_proxy(name, a.root, base, a.workers, cpus, origin.port, tls=tls, mode="tuned",
                       timeout="600s", maxconn=a.held + clients)
    try:
        pids = t.pids()
        time.sleep(1)
        before = procs.rss_bytes(pids)
        held = hold_streams(t.tls_port, a.held, 300)
        # Wait until the proxy's memory stops growing: the streams are held (bounded).
        last, deadline = None, time.time() + 60
        while time.time() < deadline:
            time.sleep(1)
            now = procs.rss_bytes(pids)
            if now == last:
                break
            last = now
        load = procs.rss_bytes(pids)
        for sock, _ in held:
            sock.close()
        return {"rss_before": before, "rss_load": load,
                "per_stream": (load - before) / a.held if before and load else None}
    finally:
        t.stop()


def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def median(runs, key):
    values = sorted(run[key] for run in runs if run.get(key) is not None)
    return values[len(values) // 2] if values else None


def spread(runs, key, spec):
    """`median (min-max)` of runs' `key`, or n/a."""
    values = [run[key] for run in runs if run.get(key) is not None]
    if not values:
        return "n/a"
    mid = format(median(runs, key), spec)
    return mid if len(values) == 1 else f"{mid} ({format(min(values), spec)}-{format(max(values), spec)})"


def ratios(rows, mode):
    """tern against the better of the others, by medians: req/s (higher better), CPU (lower)."""
    by_name = {name: r.get(mode) or [] for name, r in rows}
    if "tern" not in by_name or len(by_name) < 2:
        return []
    peers = [name for name in by_name if name != "tern"]
    rps = {name: median(runs, "rps") for name, runs in by_name.items()}
    cpu = {name: median(runs, "cpu_us_per_req") for name, runs in by_name.items()}
    best_rps = max((rps[p] for p in peers if rps[p]), default=None)
    best_cpu = min((cpu[p] for p in peers if cpu[p]), default=None)
    if not (rps["tern"] and best_rps and cpu["tern"] and best_cpu):
        return []
    return ["", f"tern against the better peer: req/s {rps['tern'] / best_rps:.2f}×, "
                f"CPU per request {cpu['tern'] / best_cpu:.2f}×"]


def report(a, rows, note):
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "h2-latest.md")
    lines = [
        "# HTTP/2 to clients: tern, nginx, HAProxy",
        "",
        f"{note}. TLS (ALPN h2) on the proxy, HTTP/1.1 to one tern-loadtest origin; "
        f"{a.workers} worker(s).",
    ]
    for mode in a.modes:
        lines += ["", f"## Throughput, {mode}: h2load -c {a.connections} -m {a.streams} -D {a.duration}, "
                  f"GET / (small); median of {a.rounds} round(s) (min-max)", "",
                  "| proxy | protocol | req/s | failed | CPU µs/request |",
                  "|---|---|---:|---:|---:|"]
        for name, r in rows:
            runs = r.get(mode) or []
            rps, cpu = spread(runs, "rps", ".0f"), spread(runs, "cpu_us_per_req", ".1f")
            failed = sum(run.get("failed") or 0 for run in runs)
            protocols = "/".join(sorted({run.get("protocol", "?") for run in runs})) or "?"
            lines.append(f"| {name} | {protocols} | {rps} | {failed} | {cpu} |")
        lines += ratios(rows, mode)
    if not a.skip_held:
        lines += ["", f"## {a.held} held long-poll streams ({STREAMS_PER_CONN} per connection), tuned", "",
                  "| proxy | RSS before | RSS held | bytes per held stream |", "|---|---:|---:|---:|"]
        for name, r in rows:
            h = r.get("held") or {}
            mib = lambda b: "n/a" if not b else f"{b / 2**20:.1f} MiB"  # noqa: E731
            lines.append(f"| {name} | {mib(h.get('rss_before'))} | {mib(h.get('rss_load'))} | "
                         f"{fmt(h.get('per_stream'), '.0f')} |")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    say(f"wrote {path}")


def main(argv):
    a = parse_args(argv)
    base = tg.make_workdir("h2")
    tls = tg.make_tls_cert(base)
    # taskset -c takes a list as text ("0,1"): every CPU this process may use.
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    origin = tg.start_origin("loadtest", a.root, base, 1, cpus)
    rows = [(name, {mode: [] for mode in a.modes}) for name in a.proxies]
    try:
        for mode in a.modes:
            for round_no in range(a.rounds):
                # Rotated, so no proxy always runs first (or after the same one).
                shift = round_no % len(rows)
                for name, row in rows[shift:] + rows[:shift]:
                    say(f"{name}: throughput, {mode}, round {round_no + 1}")
                    row[mode].append(throughput(name, a, origin, base, tls, cpus, mode))
        for name, row in rows:
            if not a.skip_held:
                say(f"{name}: {a.held} held streams")
                row["held"] = held_pass(name, a, origin, base, tls, cpus)
    finally:
        origin.stop()
    report(a, rows, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    say(tg.finish_workdir(base, a.keep))


if __name__ == "__main__":
    main(sys.argv[1:])
