#!/usr/bin/env python3
"""bench/run.sh's engine: runs wrk against the origin, tern, nginx and HAProxy in rotation,
each proxy at its defaults and tuned, and writes bench/results/latest.{md,svg}.
See bench/README.md."""
import argparse
import json
import os
import platform
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paced  # noqa: E402
import pinning  # noqa: E402
import procs  # noqa: E402
import report  # noqa: E402
import svgchart  # noqa: E402
import targets as tg  # noqa: E402
import tlslat  # noqa: E402
import wrkrun  # noqa: E402

ALL_TARGETS = ["origin", "tern", "nginx", "haproxy"]
STEAL_WARN_PCT = 5.0  # steal above this: the host, not the servers, sets the figures


def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench/run.sh", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")),
                   help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: --duration 2s --rounds 2 --warmup 1s --workers 1 (explicit flags win)")
    p.add_argument("--duration", help="length of each measured wrk run (default 10s)")
    p.add_argument("--rounds", type=int, help="rounds of A B C D rotation per scenario (default 3)")
    p.add_argument("--warmup", help="unrecorded wrk run per target and scenario before the rounds (default 2s, 0 = none)")
    p.add_argument("--scenarios", default=",".join(wrkrun.SCENARIOS),
                   help=f"comma list from: {','.join(wrkrun.SCENARIOS)} (default all)")
    p.add_argument("--targets", default=",".join(ALL_TARGETS), help="comma list (default all four)")
    p.add_argument("--workers", help="comma list of worker counts, one full pass each (default 1,2)")
    p.add_argument("--modes", default=",".join(tg.MODES),
                   help="comma list: defaults (each proxy as it ships), tuned (configured alike); "
                        "one full pass each (default both)")
    p.add_argument("--defaults", action="store_true", help="the same as --modes defaults")
    p.add_argument("--paced", type=float, default=0.5,
                   help="after the wrk rounds of each plain keep-alive GET or POST scenario (and of https-close and "
                        "https-resume), the same rounds with tern-loadtest paced (tls-latency) at this fraction "
                        "of the slowest proxy's wrk req/s: latency at equal offered load (default 0.5, 0 = none)")
    p.add_argument("--paced-duration",
                   help="length of each equal-load round (default: --duration). A p99 wants several seconds: "
                        "one ~10 ms stall at 10,000/s touches about 1%% of a 2 s round")
    p.add_argument("--origin", choices=["auto", "loadtest", "nginx"], default="auto",
                   help="origin server: tern-loadtest origin, or a second nginx (auto: loadtest, else nginx)")
    p.add_argument("--wrk-threads", type=int, help="wrk -t (default: number of CPUs wrk is pinned to)")
    p.add_argument("--timeout", default="5s", help="wrk --timeout per request (default 5s)")
    p.add_argument("--preflight", type=float, default=5.0,
                   help="seconds of a ping-pong load between two CPUs before the run (bench/lib/pingpong.py), to "
                        "measure the hypervisor's steal "
                        f"and warn above {STEAL_WARN_PCT:g}%% (default 5, 0 = none)")
    p.add_argument("--max-steal", type=float, default=STEAL_WARN_PCT,
                   help="a measured run (wrk or equal-load) during which the hypervisor's steal exceeded this %% "
                        f"is run again (default {STEAL_WARN_PCT:g})")
    p.add_argument("--steal-repeats", type=int, default=2,
                   help="how many times at most such a run is repeated; the one with the least steal is kept "
                        "(default 2, 0 = never)")
    p.add_argument("--no-pin", action="store_true", help="do not use taskset")
    p.add_argument("--no-build", action="store_true", help="skip cargo build (handled by run.sh)")
    tg.add_keep(p)
    p.add_argument("--out", help="results directory (default bench/results)")
    p.add_argument("--render", metavar="RAW_DIR",
                   help="run nothing: rewrite latest.md/latest.svg from a previous run's results/raw/<stamp>/")
    a = p.parse_args(argv)
    a.duration = a.duration or ("2s" if a.quick else "10s")
    a.rounds = a.rounds or (2 if a.quick else 3)
    a.warmup = a.warmup or ("1s" if a.quick else "2s")
    a.workers = [int(w) for w in (a.workers or ("1" if a.quick else "1,2")).split(",")]
    a.scenarios = [s.strip() for s in a.scenarios.split(",") if s.strip()]
    a.targets = [t.strip() for t in a.targets.split(",") if t.strip()]
    a.modes = ["defaults"] if a.defaults else [m.strip() for m in a.modes.split(",") if m.strip()]
    bad = [s for s in a.scenarios if s not in wrkrun.SCENARIOS] + [t for t in a.targets if t not in ALL_TARGETS] + \
          [m for m in a.modes if m not in tg.MODES]
    if bad or not a.modes:
        p.error(f"unknown scenario/target/mode: {', '.join(bad) or '(no mode)'}")
    a.paced_duration = a.paced_duration or a.duration
    for flag, value in (("--duration", a.duration), ("--paced-duration", a.paced_duration)):
        try:
            wrkrun._seconds(value)
        except ValueError as e:
            p.error(f"{flag}: {e}")
    if not 0 <= a.paced <= 1:
        p.error("--paced is a fraction of the slowest proxy's req/s, from 0 to 1")
    a.out = a.out or os.path.join(a.root, "bench", "results")
    return a


def say(msg):
    print(msg, flush=True)


def start_origin(a, base, workers, cpus, sizes, label="origin"):
    kinds = ["loadtest", "nginx"] if a.origin == "auto" else [a.origin]
    last = None
    for kind in kinds:
        try:
            return tg.start_origin(kind, a.root, base, workers, cpus, sizes, label)
        except tg.TargetError as e:
            last = e
            say(f"  origin ({kind}) unavailable: {e}")
    raise SystemExit(f"no origin could be started: {last}")


def steal_note(samples, ticks_before, seconds, preflight_pct=None):
    """The hypervisor's steal over the whole run (all CPUs), in its worst wrk run and under the
    pre-flight load."""
    whole = procs.share_pct(procs.cpu_steal_ticks(None) - ticks_before, seconds, None)
    worst = max((s["steal_pct"] for s in samples if s.get("kind", "wrk") == "wrk" and "steal_pct" in s),
                default=None)
    return (f"{whole:.1f}% of the CPUs' time over the run" +
            (f", {worst:.0f}% in the worst wrk run" if worst is not None else "") +
            (f", {preflight_pct:.1f}% under the pre-flight load" if preflight_pct is not None else "") +
            " (time the host gave to other guests; above a few % every figure is disturbed)")


def least_stolen(run, max_steal, repeats, label):
    """The sample of `run(made)` (made: repeats so far), run again while the hypervisor's steal
    during it exceeded `max_steal` %, `repeats` times at most: of those runs, the one with the
    least steal, its `steal_repeats` the repeats made. Steal is other guests' work, not the
    proxies', so a repeat picks no winner; it keeps the host's pauses out of the figures."""
    kept, made = None, 0
    for made in range(repeats + 1):
        sample = run(made)
        steal = sample.get("steal_pct") or 0
        if kept is None or steal < (kept.get("steal_pct") or 0):
            kept = sample
        if steal <= max_steal:
            break
        if made < repeats:
            say(f"     {label}: steal {steal:.0f}% above {max_steal:g}%, run again")
    return dict(kept, steal_repeats=made)


def repeat_path(raw, made):
    """Where a repeat's raw wrk output goes: beside the first run's, not over it."""
    return raw if not made else raw.replace(".txt", f"-repeat{made}.txt")


def repeats_note(samples, max_steal):
    """How many measured runs were repeated for steal, and how many kept a disturbed one."""
    measured = [s for s in samples if "steal_repeats" in s]
    repeated = sum(1 for s in measured if s["steal_repeats"] > 0)
    still = sum(1 for s in measured if (s.get("steal_pct") or 0) > max_steal)
    return (f"{repeated} of {len(measured)} measured runs repeated for steal above {max_steal:g}%; "
            f"{still} kept more than that after their repeats")


def preflight(seconds):
    """Steal under pingpong.py's load before the run (None when skipped); warns when the
    host is contended, since every figure of the run would then be the host's."""
    if seconds <= 0:
        return None
    pct = procs.steal_under_load(seconds)
    say(f"pre-flight: {pct:.1f}% steal under {seconds:g} s of ping-pong between two CPUs")
    if pct > STEAL_WARN_PCT:
        say(f"WARNING: the host is contended (steal above {STEAL_WARN_PCT:g}%): req/s and latencies of this "
            "run will be disturbed; CPU per request much less so. A quieter hour gives figures worth keeping.")
    return pct


def run_workers(a, workers, mode, wrk_cpus, server_cpus, threads, base, raw_dir, samples, tls=None, tls_notes=None,
                tern_lines=None):
    """One pass: fresh servers in one mode and worker count, every scenario in rotation."""
    scenarios = [wrkrun.SCENARIOS[s] for s in a.scenarios]
    sizes = sorted({s.body_size for s in scenarios if s.body_size})
    say(f"\n=== {mode}, {workers} worker(s) ===")
    clients = max(s.connections for s in scenarios)
    origins = start_origins(a, base, workers, server_cpus, sizes, clients)
    static_root = tg.make_static_root(base)
    running, dead = {}, {}
    for name in a.targets:
        if name == "origin":
            running[name] = origins[name]
            continue
        try:
            running[name] = tg.start_proxy(name, a.root, base, workers, server_cpus, origins[name].port,
                                           maxconn=tg.maxconn_for(name, clients), static_root=static_root,
                                           tls=tls, mode=mode)
            t = running[name]
            pids = t.pids()
            tls_desc = f", https {t.tls_addr} {t.tls_note}" if t.tls_port else ""
            say(f"  {name}: {t.addr}{tls_desc} (pids {pids}, threads on CPUs {procs.cpus_allowed(pids)})"
                + (f"; {t.note}" if t.note else ""))
            if t.tls_note and tls_notes is not None:
                tls_notes.setdefault(name, t.tls_note)
            if name == "tern" and tern_lines is not None:  # its started: line (workers, pinned=)
                tern_lines[f"{mode}, {workers} worker{'s' if workers != 1 else ''}"] = t.note
        except tg.TargetError as e:
            lines = [x.strip() for x in str(e).splitlines() if x.strip()]
            dead[name] = lines[0] + (f" — {lines[-1]}" if len(lines) > 2 else "")  # the why and the server's last word
            say(f"  {name}: SKIPPED — {e}")
    try:
        for sc in scenarios:
            say(f"\n  -- {sc.name}: {sc.title}")
            if wrkrun._seconds(a.warmup) > 0:
                for name, t in running.items():
                    if not wrkrun.runs_on(sc, name):
                        continue
                    try:
                        wrkrun.run(sc, t, origins[name], a.warmup, wrk_cpus, threads, a.timeout)
                    except (RuntimeError, ValueError) as e:
                        say(f"     warmup {name}: {e}")
            for rnd in range(1, a.rounds + 1):
                for name in a.targets:
                    if not wrkrun.runs_on(sc, name):
                        continue
                    base_s = {"mode": mode, "workers": workers, "scenario": sc.name, "target": name, "round": rnd}
                    if name in dead:
                        samples.append(dict(base_s, error=dead[name]))
                        continue
                    t = running[name]
                    raw = os.path.join(raw_dir, f"{mode}-w{workers}-{sc.name}-{name}-r{rnd}.txt")
                    try:
                        r = least_stolen(lambda made: wrkrun.run(sc, t, origins[name], a.duration, wrk_cpus, threads,
                                                                 a.timeout, repeat_path(raw, made), server_cpus),
                                         a.max_steal, a.steal_repeats, f"r{rnd} {name}")
                        samples.append(dict(base_s, **r))
                        say(f"     r{rnd} {name:8s} {r['rps']:>10.0f} req/s  p50 {report.fmt_lat(r['p50_us']):>9s}  "
                            f"p99 {report.fmt_lat(r['p99_us']):>9s}  p99.9 {report.fmt_lat(r['p999_us']):>9s}  "
                            f"cpu {r['cpu_us_per_req']:6.2f} µs/req  err {int(r['errors'])}  non2xx {int(r['non2xx'])}  "
                            f"(user {r['cpu_user_us_per_req']:.2f} kernel {r['cpu_sys_us_per_req']:.2f})  "
                            f"connects/req {report.fmt_connects(r.get('connects_per_req'))}  "
                            f"other load {r['foreign_cpu_pct']:.0f}%  steal {r['steal_pct']:.0f}%  "
                            f"wrk cpu {r['wrk_cpu_pct']:.0f}%"
                            + (f"  handshakes {r['tls_handshakes']} ({r['tls_resumed']} resumed)"
                               if "tls_handshakes" in r else ""))
                    except (RuntimeError, ValueError) as e:
                        samples.append(dict(base_s, error=str(e)))
                        say(f"     r{rnd} {name:8s} FAILED: {e}")
                    if not t.proc.alive():
                        dead[name] = f"{name} exited (see {t.proc.log_path})"
                        say(f"     {name} died: {t.proc.tail(4)}")
            if a.paced > 0 and equal_load_client(sc):
                proxies = equal_load_proxies(running, dead, sc)
                paced_rounds(a, sc, (mode, workers), proxies, origins, wrk_cpus, samples)
    finally:
        for name, t in running.items():
            if name != "origin":
                t.stop()
        for o in dict.fromkeys(origins.values()):
            o.stop()
    return next(iter(origins.values())).note


def start_origins(a, base, workers, cpus, sizes, clients):
    """The origin each target of a pass proxies to (the "origin" target is the direct one): one
    for all, or, when one can't hold every target's connections at `clients` each, one per target
    (only the targets of the run: an origin nobody uses would be an idle process beside them)."""
    if tg.one_origin_holds(clients, a.targets):
        origin = start_origin(a, base, workers, cpus, sizes)
        origins = {name: origin for name in a.targets}
    else:
        origins = {name: start_origin(a, base, workers, cpus, sizes, label=f"origin-{name}")
                   for name in a.targets}
        say(f"  one origin per target: {clients} clients to each of {len(a.targets)} targets would "
            f"outgrow one origin's {tg.NOFILE} open files")
    for o in dict.fromkeys(origins.values()):
        say(f"  origin: {o.note} on {o.addr} (pid {o.proc.pid}, threads on CPUs {procs.cpus_allowed(o.pids())})")
    return origins


def equal_load_client(scenario):
    """The client of a scenario's equal-load rounds: `paced` for the plain keep-alive GETs and POSTs,
    `tls-latency` for the handshake ones (a new TLS connection per request); None for the rest."""
    if paced.replayable(scenario):
        return "paced"
    if tlslat.handshake_scenario(scenario):
        return "tls-latency"
    return None


def equal_load_proxies(running, dead, scenario):
    """The running targets that get a scenario's equal-load rounds: the proxies it runs on, alive."""
    return {n: t for n, t in running.items()
            if n in tg.PROXIES and n not in dead and wrkrun.runs_on(scenario, n)}


def equal_load_run(a, sc, client, target, origin, rate, client_cpus):
    """One equal-load run of scenario sc by `client` (equal_load_client's) against target: its
    sample's fields (bench/run.sh adds the pass, scenario, target, round and rate)."""
    seconds = wrkrun._seconds(a.paced_duration)
    if client == "tls-latency":
        r = tlslat.one_run(a.root, target, origin, rate, seconds, sc.full_handshake, client_cpus)
        return tlslat.sample({}, r)
    r = paced.one_run(a.root, sc, target, origin, rate, seconds, client_cpus)
    return paced.sample({}, r)


def paced_rounds(a, sc, pass_key, proxies, origins, client_cpus, samples):
    """wrk offers the proxy that answers sooner more load, so its p99 is taken at a higher rate.
    These rounds offer every proxy the same fixed rate, open loop, and record latency from each
    request's slot: tern-loadtest paced (bench/README.md, *bench/paced.sh*) for keep-alive GETs and POSTs,
    tern-loadtest tls-latency (*bench/tls_latency.sh*) for a new TLS connection per request."""
    mode, workers = pass_key
    client = equal_load_client(sc)
    rate = paced.equal_load_rate(samples, mode, workers, sc.name, proxies, a.paced)
    if rate is None:
        return
    say(f"     {client}: {rate}/s to each proxy ({a.paced:g} x the slowest one's wrk req/s)")
    for rnd in range(1, a.rounds + 1):
        for name, t in proxies.items():
            base_s = {"mode": mode, "workers": workers, "scenario": sc.name, "target": name, "round": rnd,
                      "rate": rate}
            try:
                run = lambda _made: equal_load_run(a, sc, client, t, origins[name], rate,  # noqa: E731
                                                   client_cpus)
                s = dict(base_s, **least_stolen(run, a.max_steal, a.steal_repeats, f"p{rnd} {name}"))
            except (RuntimeError, ValueError, KeyError) as e:
                samples.append(dict(base_s, kind="paced", client=client, error=str(e)))
                say(f"     p{rnd} {name:8s} FAILED: {e}")
                continue
            samples.append(s)
            say(f"     p{rnd} {name:8s} {s['achieved']:>10.0f} /s  p50 {report.fmt_lat(s['p50_us']):>9s}  "
                f"p99 {report.fmt_lat(s['p99_us']):>9s}  p99.9 {report.fmt_lat(s['p999_us']):>9s}  "
                f"cpu {s['cpu_us_per_req']:6.2f} µs/req  err {int(s['errors'])}  steal {s['steal_pct']:.0f}%")


def _shown_args(argv):
    """argv without the --root PATH that run.sh adds."""
    out, skip = [], False
    for x in argv:
        if skip:
            skip = False
        elif x == "--root":
            skip = True
        elif not x.startswith("--root="):
            out.append(x)
    return out


def tool_version(cmd):
    try:
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (cp.stdout + cp.stderr).strip().splitlines()[0].split(" Copyright")[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def git_rev(root):
    """HEAD's short hash, marked when tracked files other than bench/results/ (which every run
    rewrites) differ from it."""
    try:
        rev = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no",
                                "--", ".", ":(exclude)bench/results"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + (" (+ uncommitted changes)" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def tern_commit(root):
    """What the tern under test was built from, as `tern --version` says (`0.1.0 (3e2a46b)`),
    and the sources too when they differ from it: with --no-build the binary may be older than
    the tree."""
    sources = git_rev(root)
    try:
        cp = subprocess.run([tg.release_binary(root, "tern"), "--version"], capture_output=True,
                            text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return sources
    return describe_build(cp.stdout, sources, lambda commit: same_tern_sources(root, commit))


# What the binary is built from (build.rs watches the same paths).
TERN_SOURCES = ("src", "Cargo.toml", "Cargo.lock", "build.rs")


def same_tern_sources(root, commit):
    """Whether `commit` and the working tree hold the same tern sources (commits since it
    touched only docs, bench/ or tests)."""
    try:
        return subprocess.run(["git", "-C", root, "diff", "--quiet", commit, "--", *TERN_SOURCES],
                              capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def describe_build(version_output, sources, same_sources=lambda commit: False):
    """`3e2a46b` when binary and sources agree; `3e2a46b (binary built at 45541eb, the same
    tern sources)` when only other files changed since; else both: `binary 45541eb; sources
    3e2a46b`. `same_sources(commit)` says whether the tree's tern sources are commit's."""
    opened, closed = version_output.find("("), version_output.rfind(")")
    if opened < 0 or closed < opened:
        return f"binary: commit unknown (built without git); sources {sources}"
    binary = version_output[opened + 1:closed].replace(" + changes", " (+ uncommitted changes)")
    if binary == sources:
        return sources
    if "(" not in binary and same_sources(binary):
        return f"{sources} (binary built at {binary}, the same tern sources)"
    return f"binary {binary}; sources {sources}"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def tcp_note(proc="/proc"):
    """The kernel's TCP congestion control and default qdisc: every proxy's figures depend on them. With
    BBR, TCP paces itself on loopback (which has no qdisc): a 1 MiB file cost tern 4× and nginx 7× the
    CPU it cost with cubic, and a 256 KiB response at a fixed rate can wait ~40 ms
    (bench/README.md, *BBR on loopback*)."""
    def read(name):
        try:
            with open(os.path.join(proc, "sys/net", name)) as f:
                return f.read().strip() or "?"
        except OSError:
            return "?"
    cc, qdisc = read("ipv4/tcp_congestion_control"), read("core/default_qdisc")
    note = f"congestion control {cc}, default qdisc {qdisc}"
    if cc == "bbr":
        note += " (BBR paces inside TCP on loopback: large bodies cost more CPU, and 256k at a fixed rate has " \
                "~40 ms tails; bench/README.md, *BBR on loopback*)"
    return note


def machine_meta(root):
    """The report header's first lines, shared by bench/run.sh's, floor.sh's and loadtest's comet reports:
    when, which tern, on what machine and under which TCP settings (which shape large-body figures: see
    tcp_note)."""
    return [("date", time.strftime("%Y-%m-%d %H:%M:%S %Z")), ("tern commit", tern_commit(root)),
            ("machine", f"{cpu_model()}, {os.cpu_count()} CPUs, Linux {platform.release()}"),
            ("TCP", tcp_note())]


def report_names(stamp, quick, no_pin):
    """(latest, dated) file names without extension. An unpinned pass has its own latest-nopin, so it
    never replaces the full (pinned) run's latest.md/svg that README's tables come from."""
    tag = "-nopin" if no_pin else ""
    return f"latest{tag}", f"{stamp}{tag}{'-quick' if quick else ''}"


def write_reports(out, raw_dir, stamp, samples, meta, subtitle, quick, no_pin=False):
    agg = report.aggregate(samples)
    md = report.markdown(agg, wrkrun.SCENARIOS, meta, report.aggregate_paced(samples))
    svg = svgchart.render(agg, wrkrun.SCENARIOS, "tern vs nginx vs HAProxy (wrk, 127.0.0.1)", subtitle)
    latest_name, dated_name = report_names(stamp, quick, no_pin)
    latest, dated = os.path.join(out, latest_name), os.path.join(out, f"{dated_name}.md")
    for path, text in ((f"{latest}.md", md), (dated, md), (f"{latest}.svg", svg),
                       (os.path.join(raw_dir, "report.md"), md), (os.path.join(raw_dir, "report.svg"), svg)):
        with open(path, "w") as f:
            f.write(text)
    say("\n" + report.console_table(agg, wrkrun.SCENARIOS))
    say(f"\nwrote {latest}.md, {dated}, {latest}.svg; raw: {raw_dir}")


def modes_note(modes, workers, server_cpus):
    """What each mode means, and for the defaults whether a pass had to set the worker count."""
    out = []
    if "defaults" in modes:
        told = []
        for w in workers:
            names = [tg.LABEL_OF.get(n, n) for n in tg.PROXIES if tg.workers_to_set("defaults", w, server_cpus, n)]
            if names:
                told.append(f"{' and '.join(names)} in the {w}-worker pass")
        out.append("defaults = each proxy as it ships (templates/*-defaults.*; bench/README.md, \"Modes\"); "
                   + ("worker count set explicitly for " + "; ".join(told) +
                      " (left alone, it would start another count: tern and HAProxy one per CPU of the "
                      "servers' mask, nginx one per CPU online)" if told
                      else "no worker count set (each proxy's own default gave the pass's count)"))
    if "tuned" in modes:
        out.append("tuned = configured alike (templates/tern.toml.tmpl, nginx.conf.tmpl, haproxy.cfg.tmpl)")
    return "; ".join(out)


def render_only(a):
    """--render: the reports again from a run's saved samples (e.g. after another run overwrote latest.*)."""
    raw_dir = os.path.abspath(a.render)
    with open(os.path.join(raw_dir, "samples.json")) as f:
        samples = json.load(f)
    with open(os.path.join(raw_dir, "meta.json")) as f:
        m = json.load(f)
    write_reports(a.out, raw_dir, m["stamp"], samples, [tuple(x) for x in m["meta"]], m["subtitle"], m["quick"],
                  m.get("no_pin", False))
    return 0


def main(argv):
    a = parse_args(argv)
    if a.render:
        return render_only(a)
    wrk_cpus, server_cpus, pin_desc = pinning.choose(a.no_pin)
    threads = a.wrk_threads or (len(wrk_cpus.split(",")) if wrk_cpus else 2)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    raw_dir = os.path.join(a.out, "raw", stamp)
    base = tg.make_workdir()
    os.makedirs(raw_dir, exist_ok=True)
    say(f"pinning: {pin_desc}; wrk -t {threads}")
    say(f"duration {a.duration} x {a.rounds} rounds (+{a.warmup} warmup), workers {a.workers}, "
        f"scenarios {','.join(a.scenarios)}, targets {','.join(a.targets)}")
    say(f"raw wrk output: {raw_dir}; server configs and logs: {base}")
    preflight_pct = preflight(a.preflight)
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    steal_before = procs.cpu_steal_ticks(None)
    samples, origin_notes, tls_notes, tern_lines = [], set(), {}, {}
    tls = None
    selected = [wrkrun.SCENARIOS[s] for s in a.scenarios]
    if any(s.tls for s in selected):
        try:
            tls = tg.make_tls_cert(base)
            say(f"TLS: self-signed ECDSA P-256 certificate {tls.cert} (key {tls.key}, HAProxy {tls.combined})")
        except tg.TargetError as e:
            say(f"TLS: no certificate, the https scenarios will fail: {e}")
        try:
            say(f"TLS: wrk handshake counter / no-resume shim {wrkrun.build_tls_shim(base)}")
        except RuntimeError as e:
            say(f"TLS: {e}; the https scenarios will fail")
    started = time.time()
    for w in a.workers:
        for mode in a.modes:
            origin_notes.add(run_workers(a, w, mode, wrk_cpus, server_cpus, threads, base, raw_dir, samples,
                                         tls, tls_notes, tern_lines))
    with open(os.path.join(raw_dir, "samples.json"), "w") as f:
        json.dump(samples, f, indent=1)

    meta = [*machine_meta(a.root),
            ("pinning", pin_desc), ("origin", ", ".join(sorted(origin_notes))),
            ("wrk", f"{tool_version(['wrk', '-v'])}; -t {threads}, --timeout {a.timeout}, "
                    f"{a.duration} per run, {a.rounds} rounds rotating {' '.join(a.targets)}, {a.warmup} warmup"),
            ("nginx", tool_version(["nginx", "-v"])), ("HAProxy", tool_version(["haproxy", "-v"])),
            *([("TLS", "one self-signed ECDSA P-256 certificate for all three proxies; the health check "
                       f"({ssl.OPENSSL_VERSION}) negotiated " +
                (", ".join(f"{report.LABEL.get(k, k)} {v}" for k, v in tls_notes.items()) or "nothing") +
                f"; system OpenSSL (wrk's): {tool_version(['openssl', 'version']).split(' (')[0]}")]
              if tls else []),
            ("modes", modes_note(a.modes, a.workers, server_cpus)),
            *([("tern started", "; ".join(f"{k}: `{v}`" for k, v in tern_lines.items()))] if tern_lines else []),
            ("command", "bench/run.sh " + " ".join(_shown_args(argv))),
            ("load average", f"{load_before} at start, {' '.join(f'{x:.2f}' for x in os.getloadavg())} at end "
                             "(work outside the benchmark adds noise)"),
            ("steal", steal_note(samples, steal_before, time.time() - started, preflight_pct) + "; " +
             repeats_note(samples, a.max_steal)),
            ("wall time", f"{(time.time() - started) / 60:.1f} min")]
    subtitle = f"{meta[0][1]} · {meta[1][1]} · {a.duration} × {a.rounds} rounds" + \
        (f" (equal-load rounds {a.paced_duration})" if a.paced_duration != a.duration else "")
    with open(os.path.join(raw_dir, "meta.json"), "w") as f:
        json.dump({"stamp": stamp, "meta": meta, "subtitle": subtitle, "quick": a.quick, "no_pin": a.no_pin},
                  f, indent=1)
    write_reports(a.out, raw_dir, stamp, samples, meta, subtitle, a.quick, a.no_pin)
    say(tg.finish_workdir(base, a.keep))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
