#!/usr/bin/env python3
"""bench/tls_latency.sh's engine: a request on a new TLS connection, at a fixed rate of new
connections, tern next to nginx and HAProxy (tuned templates, 1 worker each, pinned with the
origin to the last CPU; the client on the others).

wrk opens connections as fast as it can and starts its latency clock after the handshake: in the
https-close and https-resume scenarios it is at 100% of its core, so its latency is mostly its own
queueing, and the handshake's wait is left out. Here `tern-loadtest tls-latency` (Rust, rustls)
opens connections at each --rates value, open loop (a connection starts at its slot however long
earlier ones take; `total` runs from the slot, so a server falling behind pays for the wait), and
times the TCP connect, the handshake and the request apart. Medians over rounds; the proxy's CPU
µs per connection from /proc. Everything listens on 127.0.0.1."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixedrate  # noqa: E402
import procs  # noqa: E402
import targets as tg  # noqa: E402
from fixedrate import median  # noqa: E402

PARTS = ("handshake", "request", "total")


def parse_args(argv):
    p = tg.proxy_parser("bench/tls_latency.sh", __doc__)
    p.add_argument("--rates", default="300,800", help="new connections per second, a comma list (default 300,800)")
    p.add_argument("--seconds", type=float, default=5.0, help="length of each run (default 5)")
    p.add_argument("--rounds", type=int, default=2, help="rounds in rotation (default 2)")
    p.add_argument("--full", action="store_true", help="a full handshake every time (default: resume)")
    a = tg.parse_proxy_args(p, argv)
    a.rates = fixedrate.parse_rates(p, a.rates)
    if a.seconds <= 0 or a.rounds < 1:
        p.error("--seconds and --rounds must be positive")
    return a


def client_command(root, port, rate, seconds, full, cpus):
    cmd = [tg.release_binary(root, "tern-loadtest"), "tls-latency", "--target", f"127.0.0.1:{port}",
           "--rate", str(rate), "--seconds", str(seconds), "--json"]
    return procs.pinned(cmd + (["--full"] if full else []), cpus)


def one_run(root, target, origin, rate, seconds, full, cpus):
    """The client's JSON figures plus the proxy's and origin's CPU µs per completed connection."""
    cmd = client_command(root, target.tls_port, rate, seconds, full, cpus)
    return fixedrate.measured_run("tls-latency", cmd, target, origin, seconds)


def handshake_scenario(scenario):
    """bench/run.sh's scenarios this client replays: HTTPS, a new connection per request."""
    return scenario.tls and "Connection: close" in scenario.headers


def sample(base, r):
    """bench/run.sh's record of one run, as paced.sample makes it: latency in µs from each
    connection's slot (connect, handshake and request), per connection."""
    return fixedrate.equal_load_sample(base, "tls-latency", r, "total")


def table(rate, rounds, a):
    """One rate's Markdown table: a row per proxy, each cell the median over rounds."""
    kind = "full handshake" if a.full else "resumed session"
    lines = [f"{rate:g} new connections/s, {kind}, {a.seconds:g} s, median of {a.rounds} rounds; ms", "",
             "| proxy | proxy CPU µs/conn | handshake p50 · p99 | request p50 · p99 | total p50 · p99 · p99.9 "
             "| resumed | errors | client late max | client CPU |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, runs in rounds.items():
        mid = lambda key: median(r[key] for r in runs)  # noqa: E731
        cells = [f"{mid('proxy_us'):.0f}"]
        cells += [f"{mid(p + '_p50_ms'):.2f} · {mid(p + '_p99_ms'):.2f}" for p in PARTS[:2]]
        cells.append(f"{mid('total_p50_ms'):.2f} · {mid('total_p99_ms'):.2f} · {mid('total_p999_ms'):.2f}")
        done = sum(r["completed"] for r in runs)
        cells.append(f"{sum(r['resumed'] for r in runs) / max(done, 1):.0%}")
        cells.append(str(sum(r["errors"] for r in runs)))
        cells.append(f"{max(r['client_late_max_ms'] for r in runs):.1f}")
        cells.append(f"{max(r['client_cpu_pct'] for r in runs):.0f}%")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv):
    a = parse_args(argv)
    base = tg.make_workdir("tlslat")
    tls = tg.make_tls_cert(base)
    cpus = sorted(os.sched_getaffinity(0))
    servers = str(cpus[-1])
    clients = ",".join(str(c) for c in (cpus[:-1] or cpus))
    origin = tg.start_origin("loadtest", a.root, base, 1, servers)
    proxies = {}
    try:
        for name in a.proxies:
            proxies[name] = tg.start_proxy(name, a.root, base, 1, servers, origin.port, tls=tls)
        results = {rate: {name: [] for name in a.proxies} for rate in a.rates}
        for _ in range(a.rounds):
            for rate in a.rates:
                for name, target in proxies.items():
                    results[rate][name].append(one_run(a.root, target, origin, rate, a.seconds, a.full, clients))
    finally:
        for target in proxies.values():
            target.stop()
        origin.stop()
    for rate in a.rates:
        print("\n" + table(rate, results[rate], a))
    print(tg.finish_workdir(base, a.keep))


if __name__ == "__main__":
    main(sys.argv[1:])
