"""Scenarios and one wrk run: command line, CPU accounting around it, parsing its output."""
import os
import re
from dataclasses import dataclass, field

import procs

WRK_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "wrk")


@dataclass
class Scenario:
    name: str
    title: str
    path: str = "/"
    connections: int = 64
    headers: list = field(default_factory=list)
    script: str = "report.lua"
    env: dict = field(default_factory=dict)
    body_size: int = 0  # for the nginx fallback origin: which /bytes/N file to create
    only: tuple = ()    # the targets that run it (empty: all); files are served by tern and nginx only


SCENARIOS = {s.name: s for s in [
    Scenario("small", "GET 100 B, keep-alive, 64 conns"),
    Scenario("16k", "GET 16 KiB, keep-alive, 64 conns", path="/bytes/16384", body_size=16384),
    Scenario("256k", "GET 256 KiB, keep-alive, 64 conns", path="/bytes/262144", body_size=262144),
    Scenario("c1000", "GET 100 B, keep-alive, 1000 conns", connections=1000),
    Scenario("close", "GET 100 B, new connection per request, 64 conns", headers=["Connection: close"]),
    Scenario("post64k", "POST 64 KiB chunked upload, 64 conns", path="/anything",
             script="chunked_post.lua", env={"BENCH_POST_BYTES": "65536", "BENCH_CHUNK_BYTES": "4096"}),
    Scenario("static-small", "GET a 1 KiB file from disk, keep-alive, 64 conns", path="/static/small.bin",
             only=("tern", "nginx")),
    Scenario("static-1m", "GET a 1 MiB file from disk, keep-alive, 64 conns", path="/static/1m.bin",
             only=("tern", "nginx")),
]}


def runs_on(scenario, target):
    return not scenario.only or target in scenario.only

SUMMARY_RX = re.compile(r"^TERN_BENCH (.*)$", re.M)


def wrk_command(scenario, addr, duration, threads, timeout):
    cmd = ["wrk", "-t", str(min(threads, scenario.connections)), "-c", str(scenario.connections),
           "-d", duration, "--latency", "--timeout", timeout,
           "-s", os.path.join(WRK_DIR, scenario.script)]
    for h in scenario.headers:
        cmd += ["-H", h]
    return cmd + [f"http://{addr}{scenario.path}"]


def parse(output):
    """The TERN_BENCH line as a dict of numbers, plus req/s and error totals."""
    m = SUMMARY_RX.search(output)
    if not m:
        raise ValueError("no TERN_BENCH summary line in wrk output")
    r = {k: float(v) for k, v in (kv.split("=", 1) for kv in m.group(1).split())}
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6) if r["duration_us"] else 0.0
    r["errors"] = r["connect"] + r["read"] + r["write"] + r["timeout"]
    r["non2xx"] = r["status"]
    return r


def run(scenario, target, origin, duration, wrk_cpus, threads=1, timeout="5s", raw_path=None, server_cpus=None):
    """Runs wrk once against target; returns the parsed result with CPU µs/request of the
    target's processes (and of the origin's, when the target is a proxy)."""
    cmd = procs.pinned(wrk_command(scenario, target.addr, duration, threads, timeout), wrk_cpus)
    env = dict(os.environ, **scenario.env)
    tpids = target.pids()
    opids = origin.pids() if origin is not target else []
    t0, o0 = procs.cpu_ticks(tpids), procs.cpu_ticks(opids)
    u0 = procs.cpu_user_ticks(server_cpus) - procs.cpu_ticks(tpids + opids, user_only=True)
    secs = _seconds(duration)
    out, err, rc = procs.run_bounded(cmd, secs + 60, env=env)
    t1, o1 = procs.cpu_ticks(tpids), procs.cpu_ticks(opids)
    u1 = procs.cpu_user_ticks(server_cpus) - procs.cpu_ticks(tpids + opids, user_only=True)
    if raw_path:
        with open(raw_path, "w") as f:
            f.write("$ " + " ".join(cmd) + "\n" + out + ("\n[stderr]\n" + err if err else ""))
    if rc != 0:
        raise RuntimeError(f"wrk exited {rc}: {err.strip()[:300]}")
    r = parse(out)
    n = max(r["requests"], 1)
    r["cpu_us_per_req"] = (t1 - t0) / procs.CLK_TCK * 1e6 / n
    r["origin_cpu_us_per_req"] = (o1 - o0) / procs.CLK_TCK * 1e6 / n if opids else None
    r["cpu_ticks"] = t1 - t0
    # User-mode CPU time on the server CPUs spent by anything but the target and the origin
    # (other tenants, compilers), in % of the server CPUs: the run's noise indicator.
    ncpu = len(server_cpus.split(",")) if server_cpus else (os.cpu_count() or 1)
    foreign = u1 - u0
    r["foreign_cpu_pct"] = max(foreign, 0) / procs.CLK_TCK / max(r["duration_us"] / 1e6, 1e-3) * 100 / ncpu
    return r


def _seconds(duration):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", duration)
    if not m:
        raise ValueError(f"bad duration {duration!r} (e.g. 10s, 2m)")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]
