"""Turns samples (one per wrk run, and one per paced run: `kind` "paced") into medians with
min–max, ratios and a Markdown report: one summary table per mode (defaults, tuned) with tern
against the better peer, then a table per scenario, worker count and mode. The wrk figures and
the paced ones are aggregated apart (`aggregate`, `aggregate_paced`)."""
import statistics

TARGET_ORDER = ["origin", "tern", "nginx", "haproxy"]
LABEL = {"origin": "origin (direct)", "tern": "tern", "nginx": "nginx", "haproxy": "HAProxy"}
PEERS = ("nginx", "haproxy")
MODE_ORDER = ["defaults", "tuned"]
MODE_TITLE = {"defaults": "each proxy as it ships", "tuned": "configured alike"}
METRICS = ("rps", "cpu_us_per_req", "cpu_user_us_per_req", "cpu_sys_us_per_req", "connects_per_req",
           "p50_us", "p99_us", "p999_us", "foreign_cpu_pct", "steal_pct", "wrk_cpu_pct",
           "wrk_cpu_us_per_req")


def _runs_by_pass(samples, kind):
    """{(mode, workers, scenario): {target: [runs]}} of one kind of sample ("wrk" or "paced";
    samples from before kinds existed are wrk's, from before modes existed tuned)."""
    groups = {}
    for s in samples:
        if s.get("kind", "wrk") == kind:
            key = (s.get("mode", "tuned"), s["workers"], s["scenario"])
            groups.setdefault(key, {}).setdefault(s["target"], []).append(s)
    return groups


def _summarize(samples, kind, summary):
    """{(mode, workers, scenario): {target: summary(runs)}} of one kind of sample."""
    return {key: {target: summary(runs) for target, runs in by_target.items()}
            for key, by_target in _runs_by_pass(samples, kind).items()}


def aggregate(samples):
    """{(mode, workers, scenario): {target: summary}} of the wrk runs: each metric's median, min
    and max over rounds, counts summed."""
    return _summarize(samples, "wrk", _wrk_summary)


def _wrk_summary(runs):
    ok = [r for r in runs if "error" not in r]
    summ = {"runs": len(runs), "failed": len(runs) - len(ok),
            "failure": next((r["error"] for r in runs if "error" in r), None)}
    for metric in METRICS:
        vals = [r[metric] for r in ok if r.get(metric) is not None]
        if vals:
            summ[metric] = (statistics.median(vals), min(vals), max(vals))
    summ["errors"] = sum(r["errors"] for r in ok)
    summ["non2xx"] = sum(r["non2xx"] for r in ok)
    summ["requests"] = sum(r["requests"] for r in ok)
    if any("tls_handshakes" in r for r in ok):  # the https* scenarios: wrk's own handshake count
        summ["tls_handshakes"] = sum(r.get("tls_handshakes", 0) for r in ok)
        summ["tls_resumed"] = sum(r.get("tls_resumed", 0) for r in ok)
    return summ


def aggregate_paced(samples):
    """{(mode, workers, scenario): {target: summary}} of the paced runs (a fixed rate, the same for
    every proxy): the rate, median p50/p99/p99.9 in µs and achieved req/s, errors summed."""
    return _summarize(samples, "paced", _paced_summary)


def _paced_summary(runs):
    ok = [r for r in runs if "error" not in r]
    summ = {"rate": runs[0]["rate"], "client": runs[0].get("client", "paced"), "failed": len(runs) - len(ok),
            "errors": sum(r["errors"] for r in ok)}
    if ok:
        for metric in ("p50_us", "p99_us", "p999_us", "achieved"):
            summ[metric] = statistics.median(r[metric] for r in ok)
    return summ


def _paced_p99(group):
    """'tern · better peer (rate)' p99 at equal offered load, or '–' where the scenario had no paced runs."""
    if not group or "p99_us" not in group.get("tern", {}):
        return "–"
    peers = [p for p in PEERS if "p99_us" in group.get(p, {})]
    best = min(peers, key=lambda p: group[p]["p99_us"]) if peers else None
    other = fmt_lat(group[best]["p99_us"]) if best else "–"
    return f"{fmt_lat(group['tern']['p99_us'])} · {other} ({fmt_num(group['tern']['rate'])}/s)"


# The equal-load clients: what their rate counts, and how they time.
EQUAL_LOAD_CLIENTS = {
    "paced": ("req/s", "tern-loadtest paced, open loop, latency from each request's slot"),
    "tls-latency": ("connections/s", "tern-loadtest tls-latency, a new TLS connection per request, open loop, "
                                     "latency from each connection's slot: connect, handshake and request"),
}


def paced_line(group):
    """One sentence for a scenario's table: every proxy's latency at the shared fixed rate."""
    first = next(iter(group.values()))
    unit, how = EQUAL_LOAD_CLIENTS[first["client"]]
    parts = []
    for t in ordered_targets(group):
        s = group[t]
        if "p99_us" not in s:
            parts.append(f"{LABEL.get(t, t)} failed")
            continue
        bad = f", {s['errors']} errors" if s["errors"] else ""
        parts.append(f"{LABEL.get(t, t)} {fmt_lat(s['p50_us'])} · {fmt_lat(s['p99_us'])} · "
                     f"{fmt_lat(s['p999_us'])} ({fmt_num(s['achieved'])} {unit}{bad})")
    return (f"At a fixed {fmt_num(first['rate'])} {unit} offered to each ({how}), p50 · p99 · p99.9: "
            + "; ".join(parts) + ".")


def ratio(agg_group, a, b, metric):
    try:
        return agg_group[a][metric][0] / agg_group[b][metric][0]
    except (KeyError, ZeroDivisionError, TypeError):
        return None


def better_peer(agg_group, metric, higher_is_better):
    """The peer (nginx or HAProxy) with the better median of metric, or None."""
    have = [p for p in PEERS if p in agg_group and agg_group[p].get(metric)]
    if not have:
        return None
    pick = max if higher_is_better else min
    return pick(have, key=lambda p: agg_group[p][metric][0])


def sort_keys(agg, scenarios):
    return sorted(agg, key=lambda k: (_mode_index(k[0]), k[1], _scenario_index(scenarios, k[2])))


def _mode_index(mode):
    return MODE_ORDER.index(mode) if mode in MODE_ORDER else len(MODE_ORDER)


def fmt_num(x):
    if x is None:
        return "–"
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e4:
        return f"{x / 1e3:.1f}k"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def fmt_lat(us):
    if us is None:
        return "–"
    if us >= 1e6:
        return f"{us / 1e6:.2f} s"
    if us >= 1e3:
        return f"{us / 1e3:.2f} ms"
    return f"{us:.0f} µs"


def _pct(t):
    return "–" if t is None else f"{t[2]:.0f}%"


def fmt_ratio(x):
    return "–" if x is None else f"{x:.2f}×"


def fmt_connects(x):
    """Upstream connects per request: ~0 with keep-alive to the origin, 1 without."""
    if x is None:
        return "–"
    return "0" if x == 0 else f"{x:.3f}" if x < 10 else f"{x:.0f}"


def _med(s, metric, fmt):
    v = s.get(metric) if s else None
    return fmt(v[0]) if v else "–"


def _split(s):
    """'user + kernel' CPU µs per request of one target's summary."""
    if not s or not s.get("cpu_user_us_per_req") or not s.get("cpu_sys_us_per_req"):
        return "–"
    return f"{fmt_num(s['cpu_user_us_per_req'][0])} + {fmt_num(s['cpu_sys_us_per_req'][0])}"


def fmt_range(t, fmt=fmt_num):
    if t is None:
        return "–"
    med, lo, hi = t
    return f"**{fmt(med)}** ({fmt(lo)}–{fmt(hi)})"


def ordered_targets(group):
    return [t for t in TARGET_ORDER if t in group] + sorted(t for t in group if t not in TARGET_ORDER)


def markdown(agg, scenarios, meta, paced=None):
    """The whole report. scenarios: {name: Scenario}; meta: list of (key, value) lines; paced: the
    aggregate_paced figures, if any."""
    paced = paced or {}
    lines = ["# tern vs nginx vs HAProxy — wrk side by side", ""]
    lines += [f"- **{k}**: {v}" for k, v in meta]
    lines += ["", "Medians over rounds, (min–max) across rounds. CPU µs/req = user+sys time of all "
              "the proxy's processes during the run ÷ requests completed (lower is better); "
              "user and kernel = the two parts (`/proc/PID/stat` utime and stime). "
              "Connects/req = new upstream connections per request: tern's own "
              "`tern_upstream_connects_total` ÷ `tern_requests_total` (admin /metrics), for nginx and "
              "HAProxy the connections the origin accepted ÷ requests completed (~0 when the proxy keeps "
              "its origin connections alive). "
              "Errors = wrk connect+read+write+timeout errors; non-2xx = responses ≥ 400. "
              "Other load = user CPU time on the server CPU(s) used by anything but the target and the origin "
              "during the run (max over rounds, % of the server CPUs): above a few % the run was disturbed. "
              "Steal = time the hypervisor gave the CPUs of the run (wrk's and the servers') to other "
              "guests (`/proc/stat`; max over rounds, % of those CPUs): above a few % the host, not the "
              "targets, shaped the figures. "
              "wrk CPU = wrk's own CPU time (max over rounds, % of the CPUs it is pinned to): near 100% the "
              "load generator set the pace, so req/s say little and CPU µs/req is the comparison. "
              "p99 at equal load: wrk offers the proxy that answers sooner more requests, so its p99 is "
              "taken at a higher rate; on the plain keep-alive GET and POST scenarios every proxy is then also "
              "offered the same fixed rate (`tern-loadtest paced`, open loop, at `--paced` × the slowest "
              "proxy's wrk req/s), latency counted from each request's slot; on https-close and "
              "https-resume the same with `tern-loadtest tls-latency` (a new connection per request; its "
              "latency includes the connect and the handshake, which wrk's leaves out).", ""]
    keys = sort_keys(agg, scenarios)
    for mode in sorted({k[0] for k in keys}, key=_mode_index):
        lines += summary_table(agg, [k for k in keys if k[0] == mode], mode, paced)
    for key in keys:
        lines += scenario_table(agg[key], key, scenarios)
        if key in paced:
            lines += [paced_line(paced[key]), ""]
    return "\n".join(lines) + "\n"


def summary_table(agg, keys, mode, paced):
    """One mode: tern against the better peer, per worker count and scenario."""
    lines = [f"## {mode} — {MODE_TITLE.get(mode, mode)}", "",
             "Ratios are tern ÷ the better of nginx and HAProxy for that column (req/s: the higher, "
             "CPU/req: the lower); CPU is user + kernel µs per request. Worst steal = the most time the "
             "hypervisor took from any proxy's run in the row (% of the run's CPUs): above a few % that row's "
             "ratios are the host's, not the proxies'.", "",
             "| mode | workers | scenario | tern req/s | req/s vs better peer | CPU/req vs better peer | "
             "CPU µs/req tern · nginx · HAProxy | connects/req tern · nginx · HAProxy | p99 tern · better peer | "
             "p99 at equal load tern · better peer (rate) | worst steal |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for _, w, sc in keys:
        g = agg[(mode, w, sc)]
        tern = g.get("tern")
        fast, frugal = better_peer(g, "rps", True), better_peer(g, "cpu_us_per_req", False)
        quick = better_peer(g, "p99_us", False)
        cpu = " · ".join(_split(g.get(t)) for t in ("tern",) + PEERS)
        conn = " · ".join(_med(g.get(t), "connects_per_req", fmt_connects) for t in ("tern",) + PEERS)
        p99 = f"{_med(tern, 'p99_us', fmt_lat)} · {_med(g.get(quick), 'p99_us', fmt_lat)}"
        lines.append(f"| {mode} | {w} | {sc} | {_med(tern, 'rps', fmt_num)} | "
                     f"{fmt_ratio(ratio(g, 'tern', fast, 'rps')) if fast else '–'} | "
                     f"{fmt_ratio(ratio(g, 'tern', frugal, 'cpu_us_per_req')) if frugal else '–'} | "
                     f"{cpu} | {conn} | {p99} | {_paced_p99(paced.get((mode, w, sc)))} | {_worst_steal(g)} |")
    return lines + [""]


def _worst_steal(group):
    """The most any proxy's wrk run in a row lost to the hypervisor: a ratio is only as sound as
    the most disturbed of the runs it divides."""
    worst = [group[t]["steal_pct"][2] for t in ("tern",) + PEERS if group.get(t, {}).get("steal_pct")]
    return f"{max(worst):.0f}%" if worst else "–"


def _wrk_cpu(s):
    """wrk's share of its CPUs, and its CPU µs per request where the run recorded it."""
    pct = _pct(s.get("wrk_cpu_pct"))
    per_req = s.get("wrk_cpu_us_per_req")
    return f"{pct} · {fmt_num(per_req[0])}" if per_req else pct


def scenario_table(g, key, scenarios):
    mode, w, sc = key
    title = scenarios[sc].title if sc in scenarios else sc
    note = getattr(scenarios.get(sc), "note", "")
    lines = [f"## {sc} — {title} — {w} worker{'s' if w != 1 else ''} — {mode}", ""] + ([note, ""] if note else [])
    lines += ["| target | req/s | p50 | p99 | p99.9 | errors | non-2xx | CPU µs/req | user + kernel | "
              "connects/req | other load | steal | wrk CPU · µs/req |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for t in ordered_targets(g):
        s = g[t]
        if "rps" not in s:
            lines.append(f"| {LABEL.get(t, t)} | failed: {(s['failure'] or '?')[:80]} | | | | | | | | | | | |")
            continue
        failed = f" ({s['failed']} runs failed)" if s["failed"] else ""
        lines.append(f"| {LABEL.get(t, t)}{failed} | {fmt_range(s['rps'])} | "
                     f"{fmt_lat(s['p50_us'][0])} | {fmt_lat(s['p99_us'][0])} | {fmt_lat(s['p999_us'][0])} | "
                     f"{int(s['errors'])} | {int(s['non2xx'])} | {fmt_range(s.get('cpu_us_per_req'))} | "
                     f"{_split(s)} | {_med(s, 'connects_per_req', fmt_connects)} | "
                     f"{_pct(s.get('foreign_cpu_pct'))} | {_pct(s.get('steal_pct'))} | {_wrk_cpu(s)} |")
    rn = [f"tern/nginx req/s {fmt_ratio(ratio(g, 'tern', 'nginx', 'rps'))}, "
          f"CPU/req {fmt_ratio(ratio(g, 'tern', 'nginx', 'cpu_us_per_req'))}",
          f"tern/HAProxy req/s {fmt_ratio(ratio(g, 'tern', 'haproxy', 'rps'))}, "
          f"CPU/req {fmt_ratio(ratio(g, 'tern', 'haproxy', 'cpu_us_per_req'))}"]
    lines += ["", "Ratios: " + "; ".join(rn) + ".", ""]
    hs = [f"{LABEL.get(t, t)} {g[t]['tls_handshakes']:,} ({g[t]['tls_resumed'] / g[t]['tls_handshakes']:.0%} resumed)"
          for t in ordered_targets(g) if g[t].get("tls_handshakes")]
    if hs:
        lines += ["TLS handshakes completed by wrk over the measured rounds: " + ", ".join(hs) + ".", ""]
    return lines


def _scenario_index(scenarios, name):
    names = list(scenarios)
    return names.index(name) if name in names else len(names)


def console_table(agg, scenarios):
    """A compact plain-text table for the terminal."""
    rows = [("w", "scenario", "target", "req/s (min-max)", "p50", "p99", "p99.9", "err", "non2xx", "CPU us/req",
             "conn/req")]
    for mode, w, sc in sort_keys(agg, scenarios):
        g = agg[(mode, w, sc)]
        w = f"{mode[0]}{w}"  # d1 = defaults, 1 worker; t2 = tuned, 2 workers
        for t in ordered_targets(g):
            s = g[t]
            if "rps" not in s:
                rows.append((w, sc, t, "FAILED: " + (s["failure"] or "?")[:40], "", "", "", "", "", "", ""))
                continue
            med, lo, hi = s["rps"]
            cpu = s.get("cpu_us_per_req")
            rows.append((w, sc, t, f"{fmt_num(med)} ({fmt_num(lo)}-{fmt_num(hi)})",
                         fmt_lat(s["p50_us"][0]), fmt_lat(s["p99_us"][0]), fmt_lat(s["p999_us"][0]),
                         str(int(s["errors"])), str(int(s["non2xx"])),
                         f"{fmt_num(cpu[0])} ({fmt_num(cpu[1])}-{fmt_num(cpu[2])})" if cpu else "-",
                         _med(s, "connects_per_req", fmt_connects)))
        r = [f"tern/nginx rps {fmt_ratio(ratio(g, 'tern', 'nginx', 'rps'))} cpu {fmt_ratio(ratio(g, 'tern', 'nginx', 'cpu_us_per_req'))}",
             f"tern/haproxy rps {fmt_ratio(ratio(g, 'tern', 'haproxy', 'rps'))} cpu {fmt_ratio(ratio(g, 'tern', 'haproxy', 'cpu_us_per_req'))}"]
        rows.append(("", "", "", "  ".join(r), "", "", "", "", "", "", ""))
    widths = [max(len(r[i]) for r in rows if not (i == 3 and r[0] == "")) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        if r[0] == "" and r[3]:
            out.append(" " * (widths[0] + widths[1] + widths[2] + 6) + r[3])
        else:
            out.append("  ".join(c.ljust(widths[i]) if i < 3 else c.rjust(widths[i]) for i, c in enumerate(r)))
    return "\n".join(out)
