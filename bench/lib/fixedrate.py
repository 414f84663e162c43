"""What the fixed-rate tools (bench/tls_latency.sh, bench/paced.sh) share: one run of a
`tern-loadtest` client that prints one JSON line, with the proxy's, the origin's and the client's
own CPU measured around it, and the median over rounds."""
import json
import resource

import procs


def measured_run(what, cmd, target, origin, seconds):
    """Runs the client `cmd` (named `what` in errors; its run lasts `seconds`) to its end. Returns its JSON figures plus
    proxy_us and origin_us (CPU µs per completed request or connection) and client_cpu_pct."""
    pids, opids = target.pids(), origin.pids()
    t0, o0, c0 = procs.cpu_ticks(pids), procs.cpu_ticks(opids), children_cpu_seconds()
    s0 = procs.cpu_steal_ticks(None)
    out, err, rc = procs.run_bounded(cmd, seconds + 120)
    t1, o1, c1 = procs.cpu_ticks(pids), procs.cpu_ticks(opids), children_cpu_seconds()
    s1 = procs.cpu_steal_ticks(None)
    if rc != 0:
        raise RuntimeError(f"{what} against {target.name} failed ({rc}): {err.strip()[-300:]}")
    r = json.loads(out)
    n = max(r["completed"], 1)
    r["proxy_us"] = (t1 - t0) * 1e6 / procs.CLK_TCK / n
    r["origin_us"] = (o1 - o0) * 1e6 / procs.CLK_TCK / n
    r["client_cpu_pct"] = (c1 - c0) / seconds * 100  # of one core: is the client far from its limit?
    # The host's steal over all CPUs (see procs.cpu_steal_ticks): a slot the hypervisor took is
    # latency no proxy caused.
    r["steal_pct"] = procs.share_pct(s1 - s0, seconds, None)
    return r


def equal_load_sample(base, client, r, latency):
    """bench/run.sh's record of one fixed-rate run by `client` ("paced", "tls-latency"): its
    `latency` figures (the JSON's `{latency}_p50_ms` ...) in µs, as wrk samples have them, the
    rate achieved, errors and the proxy's CPU µs per request."""
    return dict(base, kind="paced", client=client, achieved=r["achieved_rate"], errors=r["errors"],
                cpu_us_per_req=r["proxy_us"], steal_pct=r.get("steal_pct"),
                **{f"{q}_us": r[f"{latency}_{q}_ms"] * 1000 for q in ("p50", "p99", "p999")})


def children_cpu_seconds():
    """User + system CPU of this process's ended children (the client runs to its end)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def median(values):
    """The middle value; of an even count, the upper of the two middle ones (a round that ran)."""
    values = sorted(values)
    return values[len(values) // 2]


def parse_rates(p, text):
    """A comma list of positive numbers, else a usage error from parser p."""
    try:
        rates = [float(r) for r in text.split(",")]
    except ValueError:
        p.error(f"--rates: {text!r} is not a comma list of numbers")
    if not rates or min(rates) <= 0:
        p.error("--rates must be positive")
    return rates
