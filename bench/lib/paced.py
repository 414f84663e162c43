#!/usr/bin/env python3
"""bench/paced.sh's engine: keep-alive requests at a fixed rate, tern next to nginx and HAProxy,
so each proxy's latency is measured at the same offered load.

wrk runs a closed loop: each of its connections sends the next request when the previous answer
arrives, so the faster proxy is offered more requests per second and its latency is measured at a
busier operating point than a slower peer's. Here `tern-loadtest paced` offers each --rates value
over the scenario's connections (open loop: request g is due at g / rate; a late answer delays the
requests queued behind it and they are charged from their slots), the way bench/run.sh places
things: the client on the first CPU, proxy and origin on the others, the proxies' templates
(--mode) and worker count (--workers) as in bench/run.sh. Medians over rounds; the proxy's CPU µs
per request from /proc. Everything listens on 127.0.0.1."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixedrate  # noqa: E402
import pinning  # noqa: E402
import procs  # noqa: E402
import targets as tg  # noqa: E402
import wrkrun  # noqa: E402
from fixedrate import median  # noqa: E402


def replayable(scenario):
    """Scenarios the paced client can replay: plain-HTTP keep-alive GETs with no extra headers, and
    POSTs of a fixed body (wrk/post.lua: the beacon), against the proxies the scenario runs on (the
    static ones skip HAProxy)."""
    return not (scenario.tls or scenario.headers) and scenario.script in ("report.lua", "post.lua")


def post_bytes(scenario):
    """The body each request of `scenario` carries (0: a GET)."""
    return int(scenario.env.get("BENCH_POST_BYTES", 0)) if scenario.script == "post.lua" else 0


SCENARIOS = [name for name, s in wrkrun.SCENARIOS.items() if replayable(s)]


def parse_args(argv):
    p = tg.proxy_parser("bench/paced.sh", __doc__)
    p.add_argument("--scenario", default="256k", choices=SCENARIOS, help="bench/run.sh's scenario (default 256k)")
    p.add_argument("--rates", default="2000,3000", help="requests per second, a comma list (default 2000,3000)")
    p.add_argument("--workers", type=int, default=2, help="each proxy's worker count (default 2)")
    p.add_argument("--mode", default="tuned", choices=tg.MODES, help="the proxies' templates (default tuned)")
    p.add_argument("--seconds", type=float, default=5.0, help="length of each run (default 5)")
    p.add_argument("--rounds", type=int, default=2, help="rounds in rotation (default 2)")
    p.add_argument("--warmup", type=float, default=2.0,
                   help="seconds of unrecorded load per proxy at the highest rate first (default 2, 0 = none)")
    a = tg.parse_proxy_args(p, argv)
    a.rates = fixedrate.parse_rates(p, a.rates)
    if a.seconds <= 0 or a.rounds < 1 or a.workers < 1 or a.warmup < 0:
        p.error("--seconds, --rounds and --workers must be positive, --warmup not negative")
    return a


def one_run(root, scenario, target, origin, rate, seconds, cpus):
    """The client's JSON figures plus the proxy's and origin's CPU µs per completed request."""
    cmd = [tg.release_binary(root, "tern-loadtest"), "paced", "--target", f"127.0.0.1:{target.port}",
           "--path", scenario.path, "--connections", str(scenario.connections), "--rate", str(rate),
           "--seconds", str(seconds), "--json"]
    if post_bytes(scenario):
        cmd += ["--post-bytes", str(post_bytes(scenario))]
    return fixedrate.measured_run("paced", procs.pinned(cmd, cpus), target, origin, seconds)


def equal_load_rate(samples, mode, workers, scenario, proxies, fraction):
    """`fraction` of the slowest proxy's median wrk req/s in one pass's scenario (bench/run.sh's
    samples), in whole requests per second; None when no proxy has a wrk figure. A rate every proxy
    carried, so the paced rounds compare latency at a load all of them keep up with."""
    medians = []
    for name in proxies:
        rps = [s["rps"] for s in samples
               if s.get("kind", "wrk") == "wrk" and "error" not in s and s["target"] == name
               and (s.get("mode"), s["workers"], s["scenario"]) == (mode, workers, scenario)]
        if rps:
            medians.append(median(rps))
    return max(1, round(fraction * min(medians))) if medians else None


def sample(base, r):
    """bench/run.sh's record of one paced run: latency in µs, as its wrk samples have it."""
    return fixedrate.equal_load_sample(base, "paced", r, "latency")


def round_line(rnd, name, rate, r):
    """One run as it ends: a median hides a stall in one round of several, this line shows it."""
    return (f"  r{rnd} {name:8s} {rate:g}/s  latency p50 {r['latency_p50_ms']:.2f} · p99 {r['latency_p99_ms']:.2f}"
            f" · p99.9 {r['latency_p999_ms']:.2f} ms  proxy {r['proxy_us']:.1f} µs/req")


def table(rate, rounds, scenario, a):
    """One rate's Markdown table: a row per proxy, each cell the median over rounds."""
    lines = [f"{scenario.name} ({scenario.title}), {rate:g} requests/s offered, {a.mode}, {a.workers} worker(s), "
             f"{a.seconds:g} s, median of {a.rounds} rounds; ms", "",
             "| proxy | proxy CPU µs/req | latency p50 · p99 · p99.9 | service p50 · p99 | achieved req/s "
             "| errors | client lag p99 · max | client CPU |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, runs in rounds.items():
        mid = lambda key: median(r[key] for r in runs)  # noqa: E731
        cells = [f"{mid('proxy_us'):.1f}",
                 f"{mid('latency_p50_ms'):.2f} · {mid('latency_p99_ms'):.2f} · {mid('latency_p999_ms'):.2f}",
                 f"{mid('service_p50_ms'):.2f} · {mid('service_p99_ms'):.2f}",
                 f"{mid('achieved_rate'):.0f}",
                 str(sum(r["errors"] for r in runs)),
                 f"{mid('client_lag_p99_ms'):.2f} · {max(r['client_lag_max_ms'] for r in runs):.2f}",
                 f"{max(r['client_cpu_pct'] for r in runs):.0f}%"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv):
    a = parse_args(argv)
    scenario = wrkrun.SCENARIOS[a.scenario]
    base = tg.make_workdir("paced")
    client_cpus, server_cpus, placement = pinning.choose(client="tern-loadtest")
    print(f"placement: {placement}", flush=True)
    origin = tg.start_origin("loadtest", a.root, base, a.workers, server_cpus)
    proxies = {}
    try:
        for name in (n for n in a.proxies if wrkrun.runs_on(scenario, n)):
            proxies[name] = tg.start_proxy(name, a.root, base, a.workers, server_cpus, origin.port, mode=a.mode)
        # A proxy's first burst at a new concurrency opens its upstream connections (c1000 at
        # 10,000/s: 18-368 of them, bench/README.md): measure after it.
        if a.warmup > 0:
            for target in proxies.values():
                one_run(a.root, scenario, target, origin, max(a.rates), a.warmup, client_cpus)
        results = {rate: {name: [] for name in proxies} for rate in a.rates}
        for rnd in range(1, a.rounds + 1):
            for rate in a.rates:
                for name, target in proxies.items():
                    r = one_run(a.root, scenario, target, origin, rate, a.seconds, client_cpus)
                    results[rate][name].append(r)
                    print(round_line(rnd, name, rate, r), flush=True)
    finally:
        for target in proxies.values():
            target.stop()
        origin.stop()
    for rate in a.rates:
        print("\n" + table(rate, results[rate], scenario, a))
    print(tg.finish_workdir(base, a.keep), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
