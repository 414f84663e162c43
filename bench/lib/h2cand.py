#!/usr/bin/env python3
"""bench/h2_candidates.sh's engine: the HTTP/2 implementations tern could use, side by side on
the same minimal h2c server (bench/h2_candidates/): (a) hyperium h2 over monoio's poll-io layer,
as tern drives it, and (b) monoio-http's monoio-native port of h2.

Each round runs every candidate (their order alternating from round to round, since the machine
may be shared and its speed drift), each pass on a fresh server process:
  throughput  h2load h2c prior knowledge, C connections x M streams, GET / (20-byte body):
              requests/s, and the server's CPU (utime+stime) in microseconds per request;
  idle        N idle HTTP/2 connections (SETTINGS exchanged both ways): RSS delta / N;
  held        K connections x S `/hold` streams never answered: RSS delta / (K x S), and the
              same less K idle connections' cost (the streams' own share).
Once per candidate, the known attacks tern's tests check (tests/http2_frames.py): rapid reset
(CVE-2023-44487) and a CONTINUATION flood (CVE-2024-27316): what the server answered.
Reports medians over the rounds and the ratio (b)/(a). Everything is on 127.0.0.1, every wait
bounded. Writes bench/results/<date>-h2-candidates.md."""
import argparse
import os
import re
import resource
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import procs  # noqa: E402

CANDIDATES = [
    ("h2", "cand-h2", "hyperium h2 0.4 over monoio poll-io"),
    ("monoio-http", "cand-monoio-http", "monoio-http 0.3 (h2 port, rent IO)"),
]
IO_TIMEOUT = 10  # seconds, for every socket operation of the idle/held clients


def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench/h2_candidates.sh", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")),
                   help=argparse.SUPPRESS)
    p.add_argument("--bin-dir", help="where the cand-* binaries are (default: the project's release dir)")
    p.add_argument("--rounds", type=int, default=3, help="rounds, candidates alternating (default 3)")
    p.add_argument("--connections", type=int, default=10, help="h2load -c (default 10)")
    p.add_argument("--streams", type=int, default=100, help="h2load -m (default 100)")
    p.add_argument("--duration", type=int, default=5, help="h2load -D seconds (default 5)")
    p.add_argument("--idle", type=int, default=1000, help="idle connections (default 1000)")
    p.add_argument("--held-conns", type=int, default=100, help="connections holding streams (default 100)")
    p.add_argument("--held-streams", type=int, default=95, help="/hold streams per connection (default 95)")
    p.add_argument("--out", help="report directory (default bench/results)")
    a = p.parse_args(argv)
    a.bin_dir = a.bin_dir or os.path.join(a.root, "bench", "h2_candidates", "target", "release")
    a.out = a.out or os.path.join(a.root, "bench", "results")
    return a


def say(msg):
    print(msg, flush=True)


def start(binary, a, log):
    """A fresh server; returns (Proc, port)."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    p = procs.Proc(os.path.basename(binary), [binary, "0"], log, nofile=nofile)
    m = p.wait_for(r"listening (\d+)", timeout=15)
    if not m:
        p.stop()
        raise SystemExit(f"{binary} did not start: {p.tail()}")
    return p, int(m.group(1))


def throughput(proc, port, a):
    cmd = ["h2load", "-c", str(a.connections), "-m", str(a.streams), "-D", str(a.duration),
           "-t", "1", f"http://127.0.0.1:{port}/"]
    c0 = procs.cpu_ticks([proc.pid])
    out, err, _ = procs.run_bounded(cmd, timeout=a.duration + 60)
    c1 = procs.cpu_ticks([proc.pid])
    text = out + err
    rps = re.search(r"finished in [\d.]+\w*, ([\d.]+) req/s", text)
    done = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed", text)
    ok = int(done.group(1)) if done else 0
    cpu_us = (c1 - c0) * 1e6 / procs.CLK_TCK
    return {"rps": float(rps.group(1)) if rps else None, "ok": ok,
            "failed": int(done.group(2)) if done else None,
            "cpu_us_per_req": cpu_us / ok if ok else None}


def h2_connect(port):
    """An h2c connection with the SETTINGS exchange done both ways; returns (sock, conn)."""
    import h2.config
    import h2.connection
    import h2.events

    sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    got_settings = got_ack = False
    deadline = time.monotonic() + IO_TIMEOUT
    while not (got_settings and got_ack):
        if time.monotonic() > deadline:
            raise TimeoutError("no SETTINGS exchange")
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed during the SETTINGS exchange")
        for ev in conn.receive_data(data):
            got_settings |= isinstance(ev, h2.events.RemoteSettingsChanged)
            got_ack |= isinstance(ev, h2.events.SettingsAcknowledged)
        sock.sendall(conn.data_to_send())
    return sock, conn


def hold(sock, conn, streams):
    """Opens `streams` /hold streams, then waits for a PING's ACK: the server has read them all."""
    import h2.events

    for k in range(streams):
        conn.send_headers(1 + 2 * k, [(":method", "GET"), (":path", "/hold"), (":scheme", "http"),
                                      (":authority", "127.0.0.1")], end_stream=True)
    conn.ping(b"heldheld")
    sock.sendall(conn.data_to_send())
    deadline = time.monotonic() + IO_TIMEOUT
    while time.monotonic() < deadline:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed while opening held streams")
        events = conn.receive_data(data)
        sock.sendall(conn.data_to_send())
        if any(isinstance(ev, h2.events.PingAckReceived) for ev in events):
            return
    raise TimeoutError("no PING ACK after the held streams")


def settled_rss(pid):
    """RSS once it stops changing (a second apart), at most 20 s."""
    last, deadline = None, time.monotonic() + 20
    while time.monotonic() < deadline:
        time.sleep(1)
        now = procs.rss_bytes([pid])
        if now == last:
            break
        last = now
    return procs.rss_bytes([pid])


def memory(proc, port, conns, streams):
    """RSS delta with `conns` connections open, each holding `streams` /hold streams."""
    time.sleep(0.5)
    before = procs.rss_bytes([proc.pid])
    opened = []
    try:
        for _ in range(conns):
            sock, conn = h2_connect(port)
            opened.append(sock)
            if streams:
                hold(sock, conn, streams)
        after = settled_rss(proc.pid)
    finally:
        for sock in opened:
            sock.close()
    return after - before


def one_round(name, binary, a, log):
    row = {}
    proc, port = start(binary, a, log)
    try:
        row.update(throughput(proc, port, a))
    finally:
        proc.stop()
    proc, port = start(binary, a, log)
    try:
        row["idle_per_conn"] = memory(proc, port, a.idle, 0) / a.idle
    finally:
        proc.stop()
    proc, port = start(binary, a, log)
    try:
        held = a.held_conns * a.held_streams
        delta = memory(proc, port, a.held_conns, a.held_streams)
        row["held_per_stream"] = delta / held
        row["held_stream_only"] = (delta - a.held_conns * row["idle_per_conn"]) / held
    finally:
        proc.stop()
    say(f"  {name}: {row['rps'] or 0:.0f} req/s, {row['cpu_us_per_req'] or 0:.2f} CPU µs/req, "
        f"{row['idle_per_conn']:.0f} B/idle conn, {row['held_per_stream']:.0f} B/held stream")
    return row


ATTACKS = [
    ("rapid_reset", "rapid reset (CVE-2023-44487): 2,000 streams opened and reset"),
    ("continuation_flood", "CONTINUATION flood (CVE-2024-27316): 10,000 frames, one header block"),
]


def attacks(binary, a, log):
    """What the server answers to each attack case (bounded: 60 s each)."""
    script = os.path.join(a.root, "tests", "http2_frames.py")
    verdicts = {}
    for case, _ in ATTACKS:
        proc, port = start(binary, a, log)
        try:
            out, err, code = procs.run_bounded(["python3", script, case, str(port)], timeout=60)
            lines = (out.strip() or err.strip() or "no answer").splitlines()
            verdicts[case] = lines[-1] if code is not None else "client killed after 60 s"
        finally:
            proc.stop()
    return verdicts


METRICS = [
    ("rps", "req/s", ".0f"),
    ("cpu_us_per_req", "server CPU µs/request", ".2f"),
    ("idle_per_conn", "RSS bytes per idle connection", ".0f"),
    ("held_per_stream", "RSS bytes per held stream (with its connection's share)", ".0f"),
    ("held_stream_only", "RSS bytes per held stream (less idle connections)", ".0f"),
]


def median(rows, key):
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


def report(a, results, verdicts, started):
    (na, _, da), (nb, _, db) = CANDIDATES
    lines = [
        "# HTTP/2 candidates: hyperium h2 on poll-io vs monoio-http",
        "",
        f"{started}. bench/h2_candidates.sh: one monoio thread (io_uring), h2c prior knowledge, "
        f"127.0.0.1; {a.rounds} rounds, candidates alternating, a fresh server per pass. "
        f"(a) `{na}`: {da}; (b) `{nb}`: {db}. Same settings on both (128 streams, "
        "256 KiB stream / 1 MiB connection windows).",
        "",
        f"- throughput: `h2load -c {a.connections} -m {a.streams} -D {a.duration} -t 1`, GET / "
        "answered 200 with 20 bytes; CPU = the server's utime+stime over the run ÷ requests;",
        f"- idle: {a.idle} connections after the SETTINGS exchange, RSS delta ÷ {a.idle};",
        f"- held: {a.held_conns} connections × {a.held_streams} `/hold` streams "
        f"({a.held_conns * a.held_streams}), RSS delta ÷ streams.",
        "",
        f"| median of {a.rounds} | (a) {na} | (b) {nb} | (b)/(a) |",
        "|---|---:|---:|---:|",
    ]
    for key, label, spec in METRICS:
        va, vb = median(results[na], key), median(results[nb], key)
        ratio = f"{vb / va:.2f}" if va and vb is not None else "n/a"
        fa = "n/a" if va is None else format(va, spec)
        fb = "n/a" if vb is None else format(vb, spec)
        lines.append(f"| {label} | {fa} | {fb} | {ratio} |")
    lines += ["", "Attacks (tests/http2_frames.py; tern's answer is GOAWAY ENHANCE_YOUR_CALM to both;"
              " TIMEOUT: no GOAWAY within 10 s, the server kept serving the attacker):", "",
              f"| case | (a) {na} | (b) {nb} |", "|---|---|---|"]
    for case, label in ATTACKS:
        lines.append(f"| {label} | {verdicts[na].get(case)} | {verdicts[nb].get(case)} |")
    lines += ["", "Every round:", "", "| round | candidate | req/s | failed | CPU µs/req | B/idle conn | "
              "B/held stream | B/held stream less conn |", "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for name, rows in results.items():
        for i, r in enumerate(rows, 1):
            lines.append(f"| {i} | {name} | {r['rps'] or 0:.0f} | {r['failed']} | "
                         f"{r['cpu_us_per_req'] or 0:.2f} | {r['idle_per_conn']:.0f} | "
                         f"{r['held_per_stream']:.0f} | {r['held_stream_only']:.0f} |")
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-h2-candidates.md")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    say("\n".join(lines))
    say(f"wrote {path}")


def main(argv):
    a = parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.idle + a.held_conns + 100
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    log = f"/tmp/tern-bench-h2cand-{os.getpid()}.log"
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results = {name: [] for name, _, _ in CANDIDATES}
    for rnd in range(a.rounds):
        order = CANDIDATES if rnd % 2 == 0 else list(reversed(CANDIDATES))
        say(f"round {rnd + 1}/{a.rounds}")
        for name, binary, _ in order:
            results[name].append(one_round(name, os.path.join(a.bin_dir, binary), a, log))
    verdicts = {}
    for name, binary, _ in CANDIDATES:
        say(f"{name}: attacks")
        verdicts[name] = attacks(os.path.join(a.bin_dir, binary), a, log)
    report(a, results, verdicts, started)
    say(f"server logs: {log}")


if __name__ == "__main__":
    main(sys.argv[1:])
