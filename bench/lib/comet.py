#!/usr/bin/env python3
"""loadtest/run.sh's engine: holds N long-poll (then WebSocket) connections through tern,
nginx and HAProxy in turn, in front of one tern-loadtest origin, and compares them:
established, errors, delivery latency, proxy RSS before/at load and bytes per held connection.
Writes bench/results/comet-latest.md."""
import argparse
import json
import os
import re
import shlex
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pinning  # noqa: E402
import procs  # noqa: E402
import targets as tg  # noqa: E402
from report import fmt_lat, fmt_num  # noqa: E402

PROXIES = ["tern", "nginx", "haproxy"]
FD_LIMIT = tg.NOFILE  # one process may open at most this many files


def parse_args(argv):
    p = argparse.ArgumentParser(prog="loadtest/run.sh", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")),
                   help=argparse.SUPPRESS)
    p.add_argument("--connections", type=int, default=5000, help="held connections per proxy (default 5000)")
    p.add_argument("--proxies", default=",".join(PROXIES), help="comma list (default tern,nginx,haproxy)")
    p.add_argument("--workers", type=int, default=1, help="proxy workers (default 1)")
    p.add_argument("--timeout", default="600s", help="proxy idle/server timeout (default 600s: requests are held)")
    p.add_argument("--max-seconds", type=int, default=300, help="longpoll --max-seconds (default 300)")
    p.add_argument("--ramp", help="longpoll/websocket --ramp (connections per second)")
    p.add_argument("--ws-duration", type=int, default=10, help="websocket --duration seconds (default 10)")
    p.add_argument("--no-websocket", action="store_true", help="skip the WebSocket pass")
    p.add_argument("--longpoll-args", default="", help="extra arguments for 'tern-loadtest longpoll'")
    p.add_argument("--websocket-args", default="", help="extra arguments for 'tern-loadtest websocket'")
    p.add_argument("--no-pin", action="store_true", help="do not use taskset")
    p.add_argument("--no-build", action="store_true", help="skip cargo build (handled by run.sh)")
    tg.add_keep(p)
    p.add_argument("--out", help="results directory (default bench/results)")
    a = p.parse_args(argv)
    a.proxies = [x.strip() for x in a.proxies.split(",") if x.strip()]
    if any(x not in PROXIES for x in a.proxies):
        p.error(f"--proxies: choose from {PROXIES}")
    # Two fds per held connection (client side + origin side) in one proxy process.
    if 2 * a.connections + 200 > FD_LIMIT:
        p.error(f"--connections {a.connections}: a proxy needs 2 fds per connection and one process "
                f"may open at most {FD_LIMIT} files; use at most {(FD_LIMIT - 200) // 2}")
    a.out = a.out or os.path.join(a.root, "bench", "results")
    return a


def say(msg):
    print(msg, flush=True)


class RssSampler:
    """Samples the summed RSS of a process tree every interval until stopped; keeps the peak."""

    def __init__(self, target, interval=0.25):
        self.target, self.interval, self.peak = target, interval, 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, procs.rss_bytes(self.target.pids()))
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._t.join()
        return self.peak


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


def pick(d, *patterns):
    """First value in d whose key matches one of the regexes (the tool's key names may evolve)."""
    if not d:
        return None
    for pat in patterns:
        for k, v in d.items():
            if re.search(pat, k):
                return v
    return None


def run_tool(a, kind, cmd, wrk_cpus, target, raw_path, limit):
    """Runs one tern-loadtest pass, sampling the proxy's RSS meanwhile."""
    sampler = RssSampler(target)
    t0 = time.monotonic()
    try:
        out, err, rc = procs.run_bounded(procs.pinned(cmd, wrk_cpus), limit)
    finally:
        peak = sampler.stop()
    with open(raw_path, "w") as f:
        f.write("$ " + " ".join(cmd) + f"\n[exit {rc}, {time.monotonic() - t0:.1f}s]\n{out}\n[stderr]\n{err}\n")
    data = last_json(out)
    if data is None:
        say(f"    {kind}: no JSON result (exit {rc}): {(err or out).strip()[-300:]}")
    return data, peak, rc, err.strip()[-200:]


def proxy_maxconn(name, n):
    """nginx counts client and upstream connections (plus idle cached upstream ones) against
    worker_connections: give it all a process may open. HAProxy's maxconn counts client
    connections (it reserves the upstream fds itself)."""
    return {"nginx": FD_LIMIT - 100}.get(name, n + 100)


def _foreign_user(cpus, pids):
    return procs.cpu_user_ticks(cpus) - procs.cpu_ticks(pids, user_only=True)


def one_pass(a, name, kind, origin, wrk_cpus, server_cpus, base, raw_dir, binary):
    """Starts the proxy fresh, notes its idle RSS, runs one tern-loadtest pass, stops it."""
    n = a.connections
    try:
        t = tg.start_proxy(name, a.root, base, a.workers, server_cpus, origin.port,
                           timeout=a.timeout, maxconn=proxy_maxconn(name, n))
    except tg.TargetError as e:
        say(f"  {name}: SKIPPED — {e}")
        return {"skipped": str(e).splitlines()[0]}
    try:
        time.sleep(0.5)
        pids = t.pids()
        res = {"rss_idle": procs.rss_bytes(pids)}
        say(f"  {name} ({kind}): {t.addr}, pids {pids}, RSS {res['rss_idle'] / 2**20:.1f} MiB idle")
        if kind == "longpoll":
            cmd = [binary, "longpoll", "--target", t.addr, "--connections", str(n), "--publish", origin.addr,
                   "--proxy-pid", ",".join(map(str, pids)), "--max-seconds", str(a.max_seconds), "--json"]
            extra, limit = a.longpoll_args, a.max_seconds + 60
        else:
            cmd = [binary, "websocket", "--target", t.addr, "--connections", str(n),
                   "--duration", str(a.ws_duration), "--json"]
            extra, limit = a.websocket_args, a.ws_duration + a.max_seconds + 60
        if a.ramp:
            cmd += ["--ramp", a.ramp]
        cmd += shlex.split(extra)
        c0, u0 = procs.cpu_ticks(pids), _foreign_user(server_cpus, pids + origin.pids())
        data, peak, rc, err = run_tool(a, kind, cmd, wrk_cpus, t, os.path.join(raw_dir, f"{name}-{kind}.txt"), limit)
        c1, u1 = procs.cpu_ticks(pids), _foreign_user(server_cpus, pids + origin.pids())
        res.update(json=data, rc=rc, err=err, rss_peak=peak, cpu_s=(c1 - c0) / procs.CLK_TCK,
                   other_cpu_s=max(u1 - u0, 0) / procs.CLK_TCK)
        if not t.proc.alive():
            res["died"] = t.proc.tail(3)
            say(f"    {name} died: {res['died']}")
        return res
    finally:
        t.stop()
        time.sleep(1)  # let its sockets close before the next start


def run_proxy(a, name, origin, wrk_cpus, server_cpus, base, raw_dir, binary):
    """Long-poll pass, then (with a fresh proxy) the WebSocket pass."""
    lp = one_pass(a, name, "longpoll", origin, wrk_cpus, server_cpus, base, raw_dir, binary)
    if "skipped" in lp:
        return {"proxy": name, "skipped": lp["skipped"]}
    row = {"proxy": name, "rss_before": lp["rss_idle"], "lp_json": lp.get("json"), "lp_rc": lp.get("rc"),
           "lp_err": lp.get("err"), "rss_peak": lp.get("rss_peak"), "lp_cpu_s": lp.get("cpu_s"),
           "lp_other_cpu_s": lp.get("other_cpu_s")}
    if "died" in lp:
        row["died"] = lp["died"]
    if not a.no_websocket:
        ws = one_pass(a, name, "websocket", origin, wrk_cpus, server_cpus, base, raw_dir, binary)
        if "skipped" not in ws:
            row.update(rss_before_ws=ws["rss_idle"], ws_json=ws.get("json"), ws_rc=ws.get("rc"),
                       ws_err=ws.get("err"), ws_rss_peak=ws.get("rss_peak"), ws_cpu_s=ws.get("cpu_s"),
                       ws_other_cpu_s=ws.get("other_cpu_s"))
            if "died" in ws:
                row["died"] = ws["died"]
    return row


def summarize(row):
    """Flattens one proxy's results into the table's columns. Prefers tern-loadtest's own
    figures (taken when all connections are established); falls back to our RSS sampling."""
    lp, ws = row.get("lp_json") or {}, row.get("ws_json") or {}

    def kib(d, key):
        v = d.get(key)
        return v * 1024 if isinstance(v, (int, float)) else None

    est = pick(lp, r"^established$")
    before = kib(lp, "proxy_rss_before_kib") or row.get("rss_before")
    load = kib(lp, "proxy_rss_load_kib") or row.get("rss_peak")
    per_conn = lp.get("proxy_bytes_per_conn")
    if not isinstance(per_conn, (int, float)):
        per_conn = (load - before) / est if (load and before is not None and est) else None
    ws_est = pick(ws, r"^established$")
    ws_rss, ws_before = row.get("ws_rss_peak"), row.get("rss_before_ws")
    return {
        "established": est, "errors": pick(lp, r"^errors$"),
        "p50": pick(lp, r"^delivery_p50_ms$", r"deliver.*p50"),
        "p99": pick(lp, r"^delivery_p99_ms$"), "max": pick(lp, r"^delivery_max_ms$", r"deliver.*max"),
        "rss_before": before, "rss_load": load, "rss_peak": row.get("rss_peak"), "per_conn": per_conn,
        "per_conn_peak": ((row["rss_peak"] - row["rss_before"]) / est
                          if (row.get("rss_peak") and row.get("rss_before") is not None and est) else None),
        "cpu_s": row.get("lp_cpu_s"), "other_cpu_s": row.get("lp_other_cpu_s"),
        "ws_cpu_s": row.get("ws_cpu_s"), "ws_other_cpu_s": row.get("ws_other_cpu_s"),
        "ws_established": ws_est, "ws_errors": pick(ws, r"^errors$"), "ws_lost": pick(ws, r"^messages_lost$"),
        "ws_p50": pick(ws, r"^rtt_p50_ms$"), "ws_p99": pick(ws, r"^rtt_p99_ms$"), "ws_max": pick(ws, r"^rtt_max_ms$"),
        "ws_rss_load": ws_rss,
        "ws_per_conn": (ws_rss - ws_before) / ws_est if (ws_rss and ws_before is not None and ws_est) else None,
    }


def _mib(b):
    return "–" if b is None else f"{b / 2**20:.1f} MiB"


def _secs(x):
    return "–" if x is None else f"{x:.2f} s"


def _b(x):
    return "–" if x is None else f"{x / 1024:.1f} KiB"


def _v(x):
    if x is None:
        return "–"
    if isinstance(x, float) and x.is_integer():
        x = int(x)
    return f"{x:,}" if isinstance(x, int) else (fmt_num(x) if isinstance(x, float) else str(x))


def _ms(x):
    return "–" if not isinstance(x, (int, float)) else fmt_lat(x * 1000)


def markdown(a, rows, meta):
    lines = [f"# Comet scale: {a.connections} held connections through each proxy", ""]
    lines += [f"- **{k}**: {v}" for k, v in meta] + [""]
    lines += ["Long-poll: `tern-loadtest longpoll` holds the connections, then publishes one message "
              "through the origin; delivery = publish → response at the client. RSS = VmRSS summed over "
              "the proxy's processes, as tern-loadtest reports it: before connecting and once all "
              "connections are held; per held conn = (at load − before) ÷ established. "
              "Peak = the highest RSS sampled every 250 ms during the whole run, also divided by the "
              "connections. Proxy CPU = user+sys seconds the proxy used during the pass; other CPU = "
              "user seconds something else (not proxy, not origin) used on the server CPU meanwhile — "
              "a noise indicator.", "",
              "| proxy | established | errors | delivery p50 | p99 | max | RSS before | RSS at load | per held conn | RSS peak | per conn at peak | proxy CPU | other CPU |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['proxy']} | skipped: {r['skipped'][:90]} | | | | | | | | | | | |")
            continue
        s = r["s"]
        died = " (died)" if "died" in r else ""
        lines.append(f"| {r['proxy']}{died} | {_v(s['established'])} | {_v(s['errors'])} | {_ms(s['p50'])} | "
                     f"{_ms(s['p99'])} | {_ms(s['max'])} | {_mib(s['rss_before'])} | {_mib(s['rss_load'])} | "
                     f"{_b(s['per_conn'])} | {_mib(s['rss_peak'])} | {_b(s['per_conn_peak'])} | "
                     f"{_secs(s['cpu_s'])} | {_secs(s['other_cpu_s'])} |")
    if not a.no_websocket:
        lines += ["", "WebSocket: `tern-loadtest websocket` upgrades the connections to the origin's `/ws` echo "
                  f"and exchanges messages for {a.ws_duration} s. RSS at load = the peak sampled every 250 ms; "
                  "per held conn = (peak − idle after start) ÷ established.", "",
                  "| proxy | established | errors | lost msgs | echo p50 | p99 | max | RSS at load (peak) | per held conn | proxy CPU | other CPU |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in rows:
            if "skipped" in r:
                continue
            s = r["s"]
            lines.append(f"| {r['proxy']} | {_v(s['ws_established'])} | {_v(s['ws_errors'])} | {_v(s['ws_lost'])} | {_ms(s['ws_p50'])} | "
                         f"{_ms(s['ws_p99'])} | {_ms(s['ws_max'])} | {_mib(s['ws_rss_load'])} | {_b(s['ws_per_conn'])} | "
                         f"{_secs(s['ws_cpu_s'])} | {_secs(s['ws_other_cpu_s'])} |")
        lines += ["", "Note: `tern-loadtest websocket` half-closes (`shutdown(SHUT_WR)`) right after sending "
                  "its Close frame. nginx ends an upgraded connection as soon as the client's FIN arrives, "
                  "dropping the echo and Close still in flight, so through nginx most connections end with "
                  "a reset and about one lost message each; tern and HAProxy keep the half-closed "
                  "connection until the origin's Close. Judge nginx's WebSocket column by established and "
                  "RSS, not by errors."]
    lines += ["", "Each pass starts the proxy afresh. nginx gets `worker_connections` "
              f"{FD_LIMIT - 100} (it counts client, upstream and idle cached upstream connections), "
              f"HAProxy `maxconn` N+100, nginx `worker_rlimit_nofile` {FD_LIMIT}."]
    lines += ["", "<details><summary>Raw JSON from tern-loadtest</summary>", ""]
    for r in rows:
        for k in ("lp_json", "ws_json"):
            if r.get(k) is not None:
                lines.append(f"- {r['proxy']} {k[:2]}: `{json.dumps(r[k])}`")
            elif k in ("lp_json",) and "skipped" not in r:
                lines.append(f"- {r['proxy']} {k[:2]}: no JSON (exit {r.get(k[:2] + '_rc')}: {r.get(k[:2] + '_err', '')})")
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def main(argv):
    a = parse_args(argv)
    binary = tg.release_binary(a.root, "tern-loadtest")
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"{binary} not built (cargo build --release -p tern-loadtest)")
    wrk_cpus, server_cpus, pin_desc = pinning.choose(a.no_pin)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    raw_dir = os.path.join(a.out, "raw", f"comet-{stamp}")
    base = tg.make_workdir("comet")
    os.makedirs(raw_dir, exist_ok=True)
    say(f"pinning: {pin_desc}; {a.connections} connections; proxies {','.join(a.proxies)}; logs in {base}")
    origin = tg.start_origin("loadtest", a.root, base, 1, server_cpus)
    say(f"origin: {origin.addr} (pid {origin.proc.pid})")
    rows = []
    try:
        for name in a.proxies:
            row = run_proxy(a, name, origin, wrk_cpus, server_cpus, base, raw_dir, binary)
            if "skipped" not in row:
                row["s"] = summarize(row)
                s = row["s"]
                say(f"    longpoll: established {_v(s['established'])}, errors {_v(s['errors'])}, "
                    f"delivery p50 {_ms(s['p50'])} p99 {_ms(s['p99'])} max {_ms(s['max'])}, "
                    f"RSS {_mib(s['rss_before'])} -> {_mib(s['rss_load'])} ({_b(s['per_conn'])}/conn)")
                if not a.no_websocket:
                    say(f"    websocket: established {_v(s['ws_established'])}, errors {_v(s['ws_errors'])}, "
                        f"RSS at load {_mib(s['ws_rss_load'])} ({_b(s['ws_per_conn'])}/conn)")
            rows.append(row)
    finally:
        origin.stop()
    import bench  # reuse environment helpers
    meta = [*bench.machine_meta(a.root), ("pinning", pin_desc),
            ("proxies", f"{a.workers} worker each, server timeout {a.timeout}, configs from bench/templates/"),
            ("nginx", bench.tool_version(["nginx", "-v"])), ("HAProxy", bench.tool_version(["haproxy", "-v"])),
            ("command", "loadtest/run.sh " + " ".join(bench._shown_args(argv)))]
    md = markdown(a, rows, meta)
    for path in (os.path.join(a.out, "comet-latest.md"), os.path.join(raw_dir, "comet.md")):
        with open(path, "w") as f:
            f.write(md)
    with open(os.path.join(raw_dir, "rows.json"), "w") as f:
        json.dump(rows, f, indent=1, default=str)
    say("\n" + md)
    say(f"wrote {os.path.join(a.out, 'comet-latest.md')}; raw: {raw_dir}")
    say(tg.finish_workdir(base, a.keep))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
