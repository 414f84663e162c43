"""Scenarios and one wrk run: command line, CPU accounting around it, parsing its output."""
import os
import re
import resource
import subprocess
from dataclasses import dataclass, field

import procs
import targets as tg

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
    tls: bool = False   # https:// to the proxy's TLS listener (the origin behind it stays plain HTTP)
    full_handshake: bool = False  # bench/wrk/tls_shim.c keeps wrk from resuming TLS sessions
    note: str = ""      # printed under the scenario's heading in the report


PROXIES = ("tern", "nginx", "haproxy")
TLS_NOTE = "origin (direct): n/a, it has no TLS; it stays plain HTTP behind each proxy."


SCENARIOS = {s.name: s for s in [
    Scenario("small", "GET 100 B, keep-alive, 64 conns"),
    Scenario("16k", "GET 16 KiB, keep-alive, 64 conns", path="/bytes/16384", body_size=16384),
    Scenario("256k", "GET 256 KiB, keep-alive, 64 conns", path="/bytes/262144", body_size=262144),
    Scenario("c1000", "GET 100 B, keep-alive, 1000 conns", connections=1000),
    Scenario("c9000", "GET 100 B, keep-alive, 9000 conns", connections=9000,
             note="As many keep-alive clients as this machine's open-files limit (20,000 per process) leaves "
                  "room for in a proxy that holds an upstream connection per client: does the proxy's pool "
                  "keep its origin connections (connects/req ~0) or churn them?"),
    Scenario("close", "GET 100 B, new connection per request, 64 conns", headers=["Connection: close"]),
    Scenario("post64k", "POST 64 KiB chunked upload, 64 conns", path="/anything",
             script="chunked_post.lua", env={"BENCH_POST_BYTES": "65536", "BENCH_CHUNK_BYTES": "4096"}),
    Scenario("static-small", "GET a 1 KiB file from disk, keep-alive, 64 conns", path="/static/small.bin",
             only=("tern", "nginx")),
    Scenario("static-1m", "GET a 1 MiB file from disk, keep-alive, 64 conns", path="/static/1m.bin",
             only=("tern", "nginx")),
    Scenario("static-404", "GET a file name never asked for before (a 404), keep-alive, 64 conns",
             path="/static/missing-", script="unique_paths.lua", only=("tern", "nginx"),
             note="A scanner probing made-up paths: every name is new, so the kernel must look it up "
                  "(its caches then hold the name's absence). tern's worker asks the kernel's caches first "
                  "(RESOLVE_CACHED), then looks the name up itself on a local disk that has been quick, "
                  "as nginx's worker does. Every response is a 404 (non2xx)."),
    Scenario("compress", "GET 64 KiB of HTML, gzip level 1 on the way, keep-alive, 64 conns",
             path="/zip/page.html", headers=["Accept-Encoding: gzip"], only=("tern", "nginx"),
             note="A text file compressed per request: tern `compress` vs nginx `gzip on`, both gzip level 1, "
                  "64 KiB in per response, so CPU µs/request ÷ 64 is the CPU per KiB compressed. "
                  "tern's zlib-rs uses zlib-ng's quick strategy at level 1, nginx the system zlib's fast one: "
                  "compare the bytes each sends too (wrk's `read` in the raw output)."),
    Scenario("ratelimit", "GET 100 B through a per-client rate limit it never reaches, keep-alive, 64 conns",
             path="/limited/x", only=("tern", "nginx"),
             note="The cost of a client limit: tern `rate_limit` vs nginx `limit_req`, the limit never reached. "
                  "Compare CPU µs/request with the `small` scenario for the cost per limited request."),
    Scenario("beacon", "POST 512 B to an answer the proxy makes itself (204), keep-alive, 64 conns",
             path="/beacon", script="post.lua", env={"BENCH_POST_BYTES": "512"}, only=PROXIES,
             note="A beacon endpoint (`navigator.sendBeacon` posting to a fixed 204): tern `respond`, nginx "
                  "`return 204`, HAProxy `http-request return status 204`; no origin. The proxy must read "
                  "and drop each body to keep the connection: one that closes instead makes every "
                  "request a new connection."),
    Scenario("https", "HTTPS GET 100 B, keep-alive, 64 conns", tls=True, only=PROXIES, note=TLS_NOTE),
    Scenario("https-256k", "HTTPS GET 256 KiB, keep-alive, 64 conns", path="/bytes/262144", body_size=262144,
             tls=True, only=PROXIES,
             note=TLS_NOTE + " Bulk encryption: 16 records of 16 KiB per response, where `https` is all "
                             "per-request work."),
    Scenario("https-close", "HTTPS GET 100 B, new connection + full TLS handshake per request, 64 conns",
             headers=["Connection: close"], tls=True, full_handshake=True, only=PROXIES,
             note=TLS_NOTE + " wrk would resume the previous session on each reconnect; "
                             "bench/wrk/tls_shim.c (LD_PRELOAD) drops it, so every handshake is a full one."),
    Scenario("https-resume", "HTTPS GET 100 B, new connection + resumed TLS session per request, 64 conns",
             headers=["Connection: close"], tls=True, only=PROXIES,
             note=TLS_NOTE + " wrk's own behaviour: each reconnect resumes the previous session "
                             "(a TLS 1.3 PSK ticket: no certificate, no signature, still an X25519 exchange)."),
]}


def runs_on(scenario, target):
    return not scenario.only or target in scenario.only

SUMMARY_RX = re.compile(r"^TERN_BENCH (.*)$", re.M)


TLS_SHIM_SRC = os.path.join(WRK_DIR, "tls_shim.c")
TLS_SHIM_RX = re.compile(r"^TERN_TLS handshakes=(\d+) resumed=(\d+) dropped=(\d+)$", re.M)
_tls_shim = None


def build_tls_shim(base):
    """Compiles bench/wrk/tls_shim.c into base/ (once); returns the .so path. Raises RuntimeError."""
    global _tls_shim
    if _tls_shim:
        return _tls_shim
    out = os.path.join(base, "wrk-tls-shim.so")
    cc = os.environ.get("CC", "cc")
    try:
        cp = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", out, TLS_SHIM_SRC, "-ldl"],
                            capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuntimeError(f"cannot build {TLS_SHIM_SRC} with {cc}: {e}") from e
    if cp.returncode != 0:
        raise RuntimeError(f"cannot build {TLS_SHIM_SRC}: {cp.stderr.strip()[:300]}")
    _tls_shim = out
    return out


def wrk_command(scenario, addr, duration, threads, timeout):
    cmd = ["wrk", "-t", str(min(threads, scenario.connections)), "-c", str(scenario.connections),
           "-d", duration, "--latency", "--timeout", timeout,
           "-s", os.path.join(WRK_DIR, scenario.script)]
    for h in scenario.headers:
        cmd += ["-H", h]
    return cmd + [f"{'https' if scenario.tls else 'http'}://{addr}{scenario.path}"]


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
    addr = target.tls_addr if scenario.tls else target.addr
    if not addr:
        raise RuntimeError(f"{target.name} has no TLS listener")
    cmd = procs.pinned(wrk_command(scenario, addr, duration, threads, timeout), wrk_cpus)
    env = dict(os.environ, **scenario.env)
    if scenario.tls:  # count handshakes (and resumptions); with full_handshake, prevent resumption
        if not _tls_shim:
            raise RuntimeError("bench/wrk/tls_shim.c not built (wrkrun.build_tls_shim)")
        env["LD_PRELOAD"] = _tls_shim
        env["TERN_TLS_NO_RESUME"] = "1" if scenario.full_handshake else "0"
    tpids = target.pids()
    opids = origin.pids() if origin is not target else []
    c0 = connect_counts(target, origin)
    (tu0, ts0), o0 = procs.cpu_split(tpids), procs.cpu_ticks(opids)
    u0 = procs.cpu_user_ticks(server_cpus) - procs.cpu_ticks(tpids + opids, user_only=True)
    run_cpus = _union(server_cpus, wrk_cpus)
    st0 = procs.cpu_steal_ticks(run_cpus)
    secs = _seconds(duration)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out, err, rc = procs.run_bounded(cmd, secs + 60, env=env)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    (tu1, ts1), o1 = procs.cpu_split(tpids), procs.cpu_ticks(opids)
    u1 = procs.cpu_user_ticks(server_cpus) - procs.cpu_ticks(tpids + opids, user_only=True)
    st1 = procs.cpu_steal_ticks(run_cpus)
    c1 = connect_counts(target, origin)
    target.trim_logs()
    if raw_path:
        with open(raw_path, "w") as f:
            f.write("$ " + " ".join(cmd) + "\n" + out + ("\n[stderr]\n" + err if err else ""))
    if rc != 0:
        raise RuntimeError(f"wrk exited {rc}: {err.strip()[:300]}")
    r = parse(out)
    if scenario.tls:
        m = TLS_SHIM_RX.search(err)
        if not m:
            raise RuntimeError("no TERN_TLS line from wrk: bench/wrk/tls_shim.c was not active")
        r["tls_handshakes"], r["tls_resumed"], r["tls_dropped"] = (int(x) for x in m.groups())
        if scenario.full_handshake and r["tls_resumed"]:
            raise RuntimeError(f"{r['tls_resumed']} of {r['tls_handshakes']} handshakes were resumed "
                               "despite TERN_TLS_NO_RESUME=1")
    n = max(r["requests"], 1)
    per_req = 1e6 / procs.CLK_TCK / n  # clock ticks -> µs per request
    r["cpu_us_per_req"] = (tu1 - tu0 + ts1 - ts0) * per_req
    r["cpu_user_us_per_req"] = (tu1 - tu0) * per_req
    r["cpu_sys_us_per_req"] = (ts1 - ts0) * per_req
    r["origin_cpu_us_per_req"] = (o1 - o0) * per_req if opids else None
    r["cpu_ticks"] = tu1 - tu0 + ts1 - ts0
    r.update(connects_per_request(target.name, c0, c1, r["requests"]))
    # User-mode CPU time on the server CPUs spent by anything but the target and the origin
    # (other tenants, compilers), in % of the server CPUs: the run's noise indicator.
    seconds = r["duration_us"] / 1e6
    r["foreign_cpu_pct"] = procs.share_pct(u1 - u0, seconds, server_cpus)
    # Steal on the CPUs of the run (wrk's and the servers'), in % of their time: above a few %
    # the host's other guests took time from the run, and every figure of it is disturbed.
    r["steal_pct"] = procs.share_pct(st1 - st0, seconds, run_cpus)
    # wrk's own CPU time (it is the only child reaped during the run), in % of the CPUs it may use:
    # near 100% the load generator, not the target, set the pace (TLS handshakes cost wrk more than
    # the servers), and only CPU µs/request compares the targets.
    wrk_secs = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    r["wrk_cpu_pct"] = wrk_secs / max(seconds, 1e-3) * 100 / procs.cpu_count(wrk_cpus)
    # wrk's CPU per request: on loopback the kernel's TCP work for a transfer is charged to whichever
    # side's system call or softirq runs it, so a target that leaves more of it to the client looks
    # cheaper; target + wrk per request is the figure that work can't move between (bench/README.md).
    r["wrk_cpu_us_per_req"] = wrk_secs * 1e6 / n
    return r


def _union(*cpu_lists):
    """The CPUs of taskset-style lists ("0", "1,2"), as one such list; None when any is None
    (all CPUs)."""
    if any(c is None for c in cpu_lists):
        return None
    cpus = {int(c) for lst in cpu_lists for c in lst.split(",")}
    return ",".join(str(c) for c in sorted(cpus))


def connect_counts(target, origin):
    """The counters behind "connects/req", read before and after a run: the origin's accepted
    connections (every target), and tern's own upstream connects and requests (admin /metrics).
    A counter that cannot be read is left out, and so is the figure built on it."""
    counts = {}
    if target is not origin:
        try:
            counts["origin_accepted"] = tg.origin_accepted(origin)
        except tg.TargetError:
            pass
    if target.admin_port:
        try:
            counts.update(tg.tern_counters(target))
        except tg.TargetError:
            pass
    return counts


def connects_per_request(name, before, after, wrk_requests):
    """New upstream connections per request. tern: its own tern_upstream_connects_total over
    tern_requests_total; nginx and HAProxy: connections the origin accepted over the requests wrk
    completed. The origin's count includes the /origin-stats request that read it (1 per read)."""
    out = {}
    if "origin_accepted" in before and "origin_accepted" in after and wrk_requests:
        accepted = after["origin_accepted"] - before["origin_accepted"] - 1
        out["origin_accepts_per_req"] = max(accepted, 0) / wrk_requests
    served = after.get("proxy_requests", 0) - before.get("proxy_requests", 0)
    if "upstream_connects" in before and "upstream_connects" in after and served > 0:
        out["connects_per_req"] = (after["upstream_connects"] - before["upstream_connects"]) / served
    elif name != "tern" and "origin_accepts_per_req" in out:
        out["connects_per_req"] = out["origin_accepts_per_req"]
    return out


def _seconds(duration):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", duration)
    if not m:
        raise ValueError(f"bad duration {duration!r} (e.g. 10s, 2m)")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]
