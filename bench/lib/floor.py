#!/usr/bin/env python3
"""bench/floor.sh's engine: what one small keep-alive request costs tern, nginx and HAProxy,
next to what it costs a minimal forwarder (`tern-loadtest forwarder`: two reads, two writes and a
share of epoll_wait per request) — the floor any proxy on this kernel stands on (issue 13).

All targets run side by side in one run, 1 worker each, pinned like bench/run.sh, in front of one
`tern-loadtest origin`; the scenario is bench/run.sh's `small` (GET /, 100 B, 64 keep-alive
clients, wrk -t1). Per target:
  1. a warm-up wrk run (not recorded);
  2. a count pass: perf counts syscalls, io_uring_enter calls, SQEs (by opcode) and CQEs of the
     target's processes during a wrk run (counts only: perf costs the counted process CPU);
  3. a breakdown pass under strace -c: which syscalls (counts only: strace slows it a lot);
then rounds in rotation (every target once per round, no counter attached): req/s and user and
kernel CPU µs per request from /proc/PID/stat (wrkrun.run, as bench/run.sh measures).
Writes bench/results/<stamp>-floor.md. See bench/README.md, "The floor"."""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (tool_version, machine_meta)
import counters  # noqa: E402
import pinning  # noqa: E402
import procs  # noqa: E402
import targets as tg  # noqa: E402
import wrkrun  # noqa: E402

FORWARDER = "forwarder"
# The forwarder on io_uring, by `--ring` form (loadtest/src/forwarder/ring): what the ring's cheaper
# operations give a relay. Asked for by name; the default run leaves them out.
RING_FORWARDERS = {"forwarder-ring": "plain", "forwarder-fixed": "fixed", "forwarder-multishot": "multishot"}
# Target name -> (proxy, mode, variant for targets.start_proxy); the forwarders have none of them.
TARGETS = {FORWARDER: (None, None, None)}
for _p in tg.PROXIES:
    for _m in tg.MODES:
        TARGETS[f"{_p}-{_m}"] = (_p, _m, None)
    if _p == "tern":  # tern tuned without the client watch (abort_on_close = "never"): what watching costs
        TARGETS["tern-nowatch"] = ("tern", "tuned", ("nowatch", {"NO_CLIENT_WATCH": True}))
DEFAULT_TARGETS = list(TARGETS)
TARGETS.update({name: (None, None, None) for name in RING_FORWARDERS})
LABELS = {FORWARDER: "minimal forwarder (epoll)", "tern-nowatch": "tern (tuned, no client watch)",
          "forwarder-ring": "forwarder (io_uring, one-shot ops)",
          "forwarder-fixed": "forwarder (io_uring, registered files)",
          "forwarder-multishot": "forwarder (io_uring, multishot + provided buffers)"}
LABELS.update({f"{p}-{m}": f"{tg.LABEL_OF[p]} ({m})" for p in tg.PROXIES for m in tg.MODES})
TOP_SYSCALLS = 6
# Keep-alive GETs: a request and a response each way, which the forwarder relays as they are.
FLOOR_SCENARIOS = ("small", "16k", "256k")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench/floor.sh", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")),
                   help=argparse.SUPPRESS)
    p.add_argument("--duration", default="8s", help="length of each measured wrk run (default 8s)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of the rotation; medians are reported (default 3)")
    p.add_argument("--warmup", default="2s", help="unrecorded wrk run per target first (default 2s, 0 = none)")
    p.add_argument("--count-duration", default="3s", help="wrk run of each count pass (default 3s)")
    p.add_argument("--no-strace", action="store_true", help="skip the strace -c breakdown pass")
    p.add_argument("--scenario", default="small", choices=FLOOR_SCENARIOS,
                   help="bench/run.sh's keep-alive GET scenario to measure (default small)")
    p.add_argument("--targets", default=",".join(DEFAULT_TARGETS),
                   help=f"comma list from: {','.join(TARGETS)} (default: all but the {', '.join(RING_FORWARDERS)})")
    p.add_argument("--timeout", default="5s", help="wrk --timeout per request (default 5s)")
    p.add_argument("--no-pin", action="store_true", help="do not use taskset")
    p.add_argument("--no-build", action="store_true", help="skip cargo build (handled by floor.sh)")
    tg.add_keep(p)
    p.add_argument("--out", help="results directory (default bench/results)")
    a = p.parse_args(argv)
    a.targets = [t.strip() for t in a.targets.split(",") if t.strip()]
    bad = [t for t in a.targets if t not in TARGETS]
    if bad or not a.targets:
        p.error(f"unknown target: {', '.join(bad) or '(none)'}")
    if a.rounds < 1:
        p.error("--rounds must be at least 1")
    for d in (a.duration, a.warmup, a.count_duration):
        wrkrun._seconds(d)
    a.out = a.out or os.path.join(a.root, "bench", "results")
    return a


def estimate_seconds(a):
    """Wall time of the wrk runs alone (startup and health checks add about 5 s per target)."""
    s = wrkrun._seconds
    per_target = s(a.warmup) + 2 * s(a.count_duration) * (1 if a.no_strace else 2) + a.rounds * s(a.duration)
    return len(a.targets) * (per_target + 5)


def say(msg):
    print(msg, flush=True)


def start_forwarder(root, base, cpus, origin_port, name=FORWARDER):
    """tern-loadtest forwarder (`name`: on epoll, or one of RING_FORWARDERS) in front of the origin,
    pinned like the proxies."""
    binary = tg.release_binary(root, "tern-loadtest")
    if not os.access(binary, os.X_OK):
        raise tg.TargetError(f"{binary} not built")
    d = os.path.join(base, name)
    os.makedirs(d, exist_ok=True)
    port = procs.free_port()
    cmd = forwarder_command(binary, name, port, origin_port)
    p = procs.Proc(name, cmd, os.path.join(d, "forwarder.log"), cpus=cpus)
    if not p.wait_for(r"listening on \S+:(\d+)", stream="out", timeout=15):
        tail = p.tail()
        p.stop()
        raise tg.TargetError(f"forwarder did not print 'listening on': {tail}")
    t = tg.Target(name, port, p, note="tern-loadtest " + " ".join(cmd[1:2] + cmd[6:]))
    try:
        tg.check_http(port, "/", tg.ORIGIN_BODY)
    except tg.TargetError:
        t.stop()
        raise
    return t


def forwarder_command(binary, name, port, origin_port):
    cmd = [binary, "forwarder", "--listen", f"127.0.0.1:{port}", "--upstream", f"127.0.0.1:{origin_port}"]
    return cmd + (["--ring", RING_FORWARDERS[name]] if name in RING_FORWARDERS else [])


def start_target(name, a, base, server_cpus, origin, static_root):
    proxy, mode, variant = TARGETS[name]
    if proxy is None:
        return start_forwarder(a.root, base, server_cpus, origin.port, name)
    return tg.start_proxy(proxy, a.root, base, 1, server_cpus, origin.port, static_root=static_root, mode=mode,
                          variant=variant)


def wrk_load(t, duration, wrk_cpus, a):
    """A function that runs wrk (the chosen scenario) against t once and returns wrkrun.parse's dict."""
    sc = wrkrun.SCENARIOS[a.scenario]
    cmd = procs.pinned(wrkrun.wrk_command(sc, t.addr, duration, 1, a.timeout), wrk_cpus)

    def run():
        out, err, rc = procs.run_bounded(cmd, wrkrun._seconds(duration) + 60)
        t.trim_logs()
        if rc != 0:
            raise RuntimeError(f"wrk exited {rc}: {err.strip()[:200]}")
        return wrkrun.parse(out)
    return run


def uses_io_uring(name):
    """Whether the target (a started target's name, or a target name) submits to an io_uring ring:
    its SQEs are counted by opcode, and a missing io_uring counter is worth a note."""
    return name.startswith("tern") or name in RING_FORWARDERS


def count_pass(t, a, wrk_cpus, tmpdir):
    """perf counts per request while wrk runs; and (unless --no-strace) strace -c's breakdown in a
    second run. Returns a dict: per-request counts, notes on what is n/a, the breakdown."""
    pids = t.pids()
    r, counts, notes = counters.perf_counts(pids, wrk_load(t, a.count_duration, wrk_cpus, a), tmpdir,
                                            uses_io_uring(t.name))
    n = r["requests"] if r else 0  # None: perf could not attach, and wrk did not run
    out = {"per_req": counters.per_request(counts, n), "notes": notes}
    if a.no_strace:
        return out
    r, rows, total, err = counters.strace_counts(pids, wrk_load(t, a.count_duration, wrk_cpus, a), tmpdir)
    n = r["requests"] if r else 0
    out["strace_error"] = err if n else (err or "wrk completed no request")
    out["strace_per_req"] = {k: v / n for k, v in rows.items()} if n else {}
    out["strace_total_per_req"] = total / n if total is not None and n else None
    if counts.get("syscalls") is None and out["strace_total_per_req"] is not None:
        out["per_req"]["syscalls"] = out["strace_total_per_req"]  # no perf: strace's total stands in
        notes.pop("syscalls", None)
        out["syscalls_from"] = "strace"
    return out


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(samples, counts, names):
    """One row per target: medians over rounds of req/s and CPU µs/request, the counts per
    request, and the CPU as a multiple of the forwarder's."""
    rows = []
    for name in names:
        ok = [s for s in samples if s["target"] == name and "error" not in s]
        row = {"target": name, "rounds": len(ok),
               "errors": [s["error"] for s in samples if s["target"] == name and "error" in s],
               "rps": median([s["rps"] for s in ok]),
               "user": median([s["cpu_user_us_per_req"] for s in ok]),
               "kernel": median([s["cpu_sys_us_per_req"] for s in ok]),
               "total": median([s["cpu_us_per_req"] for s in ok]),
               "other_load": max((s["foreign_cpu_pct"] for s in ok), default=None),
               "wrk_errors": sum(s["errors"] for s in ok)}
        c = counts.get(name, {})
        row.update(c.get("per_req", {}))
        row["notes"] = c.get("notes", {})
        rows.append(row)
    floor = next((r for r in rows if r["target"] == FORWARDER), None)
    for r in rows:
        for col, base in (("x_total", "total"), ("x_kernel", "kernel")):
            ok = floor is not None and floor.get(base) and r.get(base) is not None
            r[col] = r[base] / floor[base] if ok else None
    return rows


def fmt(x, spec=".2f"):
    return "n/a" if x is None else format(x, spec)


def fmt_x(x):
    return "n/a" if x is None else f"{x:.2f}×"


def main_table(rows):
    head = ("| target | req/s | user µs/req | kernel µs/req | total µs/req | total × floor | kernel × floor | "
            "syscalls/req | io_uring_enter/req | SQEs/req | CQEs/req | other load |")
    lines = [head, "|---|" + "---:|" * 11]
    for r in rows:
        if not r["rounds"]:
            lines.append(f"| {LABELS[r['target']]} | failed: {(r['errors'] or ['not run'])[0][:120]} |"
                         + " |" * 10)
            continue
        lines.append(
            f"| {LABELS[r['target']]} | {fmt(r['rps'], '.0f')} | {fmt(r['user'])} | {fmt(r['kernel'])} | "
            f"{fmt(r['total'])} | {fmt_x(r['x_total'])} | {fmt_x(r['x_kernel'])} | {fmt(r.get('syscalls'))} | "
            + " | ".join(fmt(r.get(c)) for c in ("enters", "sqes", "cqes"))
            + f" | {fmt(r['other_load'], '.0f')}% |")
    return lines


def opcode_table(rows):
    """SQEs per request by opcode, for the targets that submitted any (tern, the ring forwarders)."""
    ops = [op for op in counters.OPCODES if any((r.get(f"sqe:{op}") or 0) >= 0.005 for r in rows)]
    uring = [r for r in rows if r.get("sqes")]
    if not uring or not ops:
        return []
    lines = ["| target | " + " | ".join(ops) + " | other | polls armed |", "|---|" + "---:|" * (len(ops) + 2)]
    for r in uring:
        known = sum(r.get(f"sqe:{op}") or 0 for op in counters.OPCODES)
        lines.append(f"| {LABELS[r['target']]} | " + " | ".join(fmt(r.get(f"sqe:{op}")) for op in ops)
                     + f" | {fmt(max(r['sqes'] - known, 0))} | {fmt(r.get('poll_arms'))} |")
    return lines


def breakdown_lines(counts, names):
    """The most frequent syscalls per request under strace -c, per target."""
    out = []
    for name in names:
        c = counts.get(name, {})
        per = c.get("strace_per_req") or {}
        if not per:
            if "strace_error" in c or "strace_per_req" in c:
                out.append(f"- {LABELS[name]}: n/a ({c.get('strace_error') or 'strace counted nothing'})")
            continue
        top = sorted(per.items(), key=lambda kv: -kv[1])[:TOP_SYSCALLS]
        out.append(f"- {LABELS[name]} ({fmt(c.get('strace_total_per_req'))}/req): "
                   + ", ".join(f"{k} {v:.2f}" for k, v in top))
    return out


def na_lines(rows):
    out = []
    for r in rows:
        for col, why in sorted(r["notes"].items()):
            if col.startswith("sqe:") or (col in counters.IO_URING_COLUMNS and not uses_io_uring(r["target"])):
                continue
            out.append(f"- {LABELS[r['target']]}: {col} n/a — {why}")
    return out


def meta_value(meta, key, default="small"):
    return next((v for k, v in meta if k == key), default)


def markdown(rows, counts, names, meta):
    lines = [f"# The floor: {meta_value(meta, 'scenario name')} keep-alive requests, per request", ""]
    lines += [f"- **{k}**: {v}" for k, v in meta] + [""]
    lines += main_table(rows)
    lines += ["",
              "user, kernel, total: median over rounds of the target's utime/stime from /proc/PID/stat (all its "
              "processes) ÷ requests, in runs with no counter attached. × floor: that CPU ÷ the minimal "
              "forwarder's. syscalls, io_uring_enter, SQEs, CQEs: per request, from a separate perf pass "
              "(tracepoints raw_syscalls:sys_enter, syscalls:sys_enter_io_uring_enter, "
              "io_uring:io_uring_submit_req, io_uring:io_uring_complete, counted in the target's processes). "
              "other load: the most CPU anything else used on the server CPU in a round (noise)."]
    ops = opcode_table(rows)
    if ops:
        lines += ["", "## SQEs per request, by opcode", ""] + ops + [
            "", "polls armed: SQEs (mostly RECV) that found no data and left a poll in the kernel to retry "
                "them when data arrives (io_uring:io_uring_poll_arm)."]
    bd = breakdown_lines(counts, names)
    if bd:
        lines += ["", f"## Syscalls per request, the {TOP_SYSCALLS} most frequent (strace -c, a separate pass)",
                  ""] + bd
    na = na_lines(rows)
    if na:
        lines += ["", "## Not counted", ""] + na
    return "\n".join(lines) + "\n"


def console(rows):
    out = [f"{'target':30s} {'req/s':>8s} {'user':>6s} {'kern':>6s} {'total':>6s} {'×floor':>7s} "
           f"{'sysc/r':>7s} {'enter/r':>7s} {'SQE/r':>6s} {'CQE/r':>6s}"]
    for r in rows:
        out.append(f"{LABELS[r['target']]:30s} {fmt(r['rps'], '.0f'):>8s} {fmt(r['user']):>6s} "
                   f"{fmt(r['kernel']):>6s} {fmt(r['total']):>6s} {fmt_x(r['x_total']):>7s} "
                   f"{fmt(r.get('syscalls')):>7s} {fmt(r.get('enters')):>7s} {fmt(r.get('sqes')):>6s} "
                   f"{fmt(r.get('cqes')):>6s}")
    return "\n".join(out)


def run(a, wrk_cpus, server_cpus, base, raw_dir):
    """Starts everything, runs the passes; returns (samples, counts, each started target's note)."""
    samples, counts, started = [], {}, {}
    origin = tg.start_origin("loadtest", a.root, base, 1, server_cpus)
    static_root = tg.make_static_root(base)
    say(f"  origin: {origin.addr} (pid {origin.proc.pid})")
    notes = {}
    try:
        for name in a.targets:
            try:
                t = start_target(name, a, base, server_cpus, origin, static_root)
            except tg.TargetError as e:
                say(f"  {name}: SKIPPED — {e}")
                samples.append({"target": name, "error": str(e).splitlines()[0]})
                continue
            started[name] = t
            notes[name] = t.note
            say(f"  {name}: {t.addr} (pids {t.pids()}, CPUs {procs.cpus_allowed(t.pids())})"
                + (f"; {t.note}" if t.note else ""))
        for name, t in started.items():
            d = os.path.join(base, f"count-{name}")
            os.makedirs(d, exist_ok=True)
            try:
                if wrkrun._seconds(a.warmup) > 0:
                    wrk_load(t, a.warmup, wrk_cpus, a)()
                counts[name] = count_pass(t, a, wrk_cpus, d)
            except (RuntimeError, ValueError) as e:
                say(f"  count {name}: FAILED: {e}")
                continue
            c = counts[name]["per_req"]
            say(f"  count {name:17s} syscalls/req {fmt(c.get('syscalls'))}  enters/req {fmt(c.get('enters'))}  "
                f"SQEs/req {fmt(c.get('sqes'))}  CQEs/req {fmt(c.get('cqes'))}")
        sc = wrkrun.SCENARIOS[a.scenario]
        for rnd in range(1, a.rounds + 1):
            for name, t in started.items():
                raw = os.path.join(raw_dir, f"{name}-r{rnd}.txt")
                try:
                    r = wrkrun.run(sc, t, origin, a.duration, wrk_cpus, 1, a.timeout, raw, server_cpus)
                except (RuntimeError, ValueError) as e:
                    samples.append({"target": name, "round": rnd, "error": str(e)})
                    say(f"  r{rnd} {name:17s} FAILED: {e}")
                    continue
                samples.append(dict(r, target=name, round=rnd))
                say(f"  r{rnd} {name:17s} {r['rps']:>8.0f} req/s  user {r['cpu_user_us_per_req']:.2f}  "
                    f"kernel {r['cpu_sys_us_per_req']:.2f} µs/req  other load {r['foreign_cpu_pct']:.0f}%")
    finally:
        for t in started.values():
            t.stop()
        origin.stop()
    return samples, counts, notes


def main(argv):
    a = parse_args(argv)
    wrk_cpus, server_cpus, pin_desc = pinning.choose(a.no_pin)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    raw_dir = os.path.join(a.out, "raw", f"{stamp}-floor")
    base = tg.make_workdir("floor")
    os.makedirs(raw_dir, exist_ok=True)
    say(f"pinning: {pin_desc}; wrk -t 1, 64 connections, GET / ({tg.ORIGIN_BODY} B)")
    say(f"targets {','.join(a.targets)}; {a.duration} x {a.rounds} rounds, count passes {a.count_duration}; "
        f"about {estimate_seconds(a) / 60:.1f} min")
    t0 = time.time()
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    samples, counts, notes = run(a, wrk_cpus, server_cpus, base, raw_dir)
    rows = summarize(samples, counts, a.targets)
    tern_notes = "; ".join(f"{LABELS[n]}: `{v}`" for n, v in notes.items() if n.startswith("tern") and v)
    meta = [*bench.machine_meta(a.root),
            ("pinning", pin_desc),
            ("scenario name", a.scenario),
            ("scenario", f"bench/run.sh's {a.scenario}: {wrkrun.SCENARIOS[a.scenario].title}, from "
                         "tern-loadtest origin (1 worker, on the proxies' CPU), wrk -t1; 1 worker per proxy"),
            ("modes", "defaults = as each ships (templates/*-defaults.*), tuned = configured alike "
                      "(templates/*.tmpl), as bench/run.sh; the forwarder: `tern-loadtest forwarder`"),
            *([("tern started", tern_notes)] if tern_notes else []),
            ("runs", f"{a.rounds} rounds × {a.duration} (medians), {a.warmup} warm-up, count passes of "
                     f"{a.count_duration} (perf" + ("" if a.no_strace else ", then strace -c") + ")"),
            ("tools", f"{bench.tool_version(['wrk', '-v'])}; {bench.tool_version(['nginx', '-v'])}; "
                      f"{bench.tool_version(['haproxy', '-v'])}; {bench.tool_version(['perf', '--version'])}"),
            ("command", "bench/floor.sh " + " ".join(bench._shown_args(argv))),
            ("load average", f"{load_before} at start, {' '.join(f'{x:.2f}' for x in os.getloadavg())} at end"),
            ("wall time", f"{(time.time() - t0) / 60:.1f} min")]
    md = markdown(rows, counts, [r["target"] for r in rows], meta)
    suffix = "" if a.scenario == "small" else f"-{a.scenario}"
    path = os.path.join(a.out, f"{stamp}-floor{suffix}.md")
    for p in (path, os.path.join(raw_dir, "report.md")):
        with open(p, "w") as f:
            f.write(md)
    with open(os.path.join(raw_dir, "samples.json"), "w") as f:
        json.dump({"samples": samples, "counts": counts, "meta": meta}, f, indent=1)
    say("\n" + console(rows))
    say(f"\nwrote {path}; raw: {raw_dir}")
    say(tg.finish_workdir(base, a.keep))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
