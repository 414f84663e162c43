#!/usr/bin/env python3
"""bench/cold.sh's engine: what a download from a cold disk does to a worker's other clients,
tern next to nginx.

A worker that reads a file the page cache doesn't hold (`sendfile`, `pread`) sleeps until the
disk delivers, and every connection it holds waits with it; nginx does so unless `aio threads`
is configured, tern reads such bytes through io_uring (src/files/disk.rs). Per proxy and round:
a quiet run (wrk, small keep-alive GETs through the proxy to the origin, --connections clients),
then a cold run: the page cache dropped (`sync`, `echo 3 > /proc/sys/vm/drop_caches`: root) and
--files files of --file-mib MiB downloaded one after another by curl from the proxy's static
route while the same wrk load runs. The small GETs' latency is what the downloads cost the other
clients; the downloads' time says how fast the cold files came. Placement as bench/run.sh's
(wrk and curl on the first CPU, proxy and origin on the others); the proxies' templates (--mode)
and worker count (--workers) as there. Medians over rounds. Everything listens on 127.0.0.1."""
import dataclasses
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pinning  # noqa: E402
import procs  # noqa: E402
import targets as tg  # noqa: E402
import wrkrun  # noqa: E402
from fixedrate import median  # noqa: E402


def parse_args(argv):
    p = tg.proxy_parser("bench/cold.sh", __doc__, proxies=("tern", "nginx"))
    p.add_argument("--files", type=int, default=4, help="cold files downloaded per cold run (default 4)")
    p.add_argument("--file-mib", type=int, default=256, help="size of each, MiB (default 256)")
    p.add_argument("--connections", type=int, default=16, help="wrk's keep-alive clients (default 16)")
    p.add_argument("--seconds", type=int, default=4, help="length of each wrk run (default 4)")
    p.add_argument("--rounds", type=int, default=2, help="rounds in rotation (default 2)")
    p.add_argument("--workers", type=int, default=1, help="each proxy's worker count (default 1)")
    p.add_argument("--mode", default="tuned", choices=tg.MODES, help="the proxies' templates (default tuned)")
    a = tg.parse_proxy_args(p, argv)
    if "haproxy" in a.proxies:
        p.error("HAProxy serves no files: --proxies takes tern and nginx")
    if min(a.files, a.file_mib, a.connections, a.seconds, a.rounds, a.workers) < 1:
        p.error("--files, --file-mib, --connections, --seconds, --rounds and --workers must be positive")
    return a


def make_cold_files(static_root, count, mib):
    """cold-1.bin ... cold-COUNT.bin of MIB MiB each in the static root (one random MiB repeated:
    the page cache doesn't care what the bytes are); their names."""
    block = os.urandom(1 << 20)
    names = [f"cold-{i}.bin" for i in range(1, count + 1)]
    for name in names:
        path = os.path.join(static_root, name)
        if os.path.isfile(path) and os.path.getsize(path) == mib << 20:
            continue
        with open(path, "wb") as f:
            for _ in range(mib):
                f.write(block)
        os.chmod(path, 0o644)
    return names


def drop_page_cache():
    """Writes dirty pages out and drops the clean ones: every file starts cold."""
    subprocess.run(["sync"], check=True, timeout=120)
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError as e:
        raise SystemExit(f"bench/cold.sh: cannot drop the page cache ({e}); run it as root")


class Downloads(threading.Thread):
    """The cold files fetched one after another with curl (each bounded by --max-time)."""

    def __init__(self, port, names, size, cpus):
        super().__init__(daemon=True)
        self.port, self.names, self.size, self.cpus = port, names, size, cpus
        self.seconds, self.error = None, None

    def run(self):
        t0 = time.monotonic()
        for name in self.names:
            cmd = ["curl", "-s", "-o", "/dev/null", "--max-time", "120", "-w", "%{http_code} %{size_download}",
                   f"http://127.0.0.1:{self.port}/static/{name}"]
            out = subprocess.run(procs.pinned(cmd, self.cpus), capture_output=True, text=True, timeout=130)
            if out.stdout.strip() != f"200 {self.size}":
                self.error = f"{name}: curl said {out.stdout.strip() or out.stderr.strip()!r}"
                return
        self.seconds = time.monotonic() - t0


def one_run(a, target, origin, names, wrk_cpus, server_cpus, cold):
    """wrk's figures for one run; with cold, the downloads' seconds too."""
    scenario = dataclasses.replace(wrkrun.SCENARIOS["small"], connections=a.connections)
    downloads = None
    if cold:
        drop_page_cache()
        downloads = Downloads(target.port, names, a.file_mib << 20, wrk_cpus)
        downloads.start()
    r = wrkrun.run(scenario, target, origin, f"{a.seconds}s", wrk_cpus, server_cpus=server_cpus)
    if downloads:
        downloads.join(timeout=150)
        if downloads.error or downloads.seconds is None:
            raise SystemExit(f"bench/cold.sh: {target.name}'s downloads failed: {downloads.error or 'timed out'}")
        r["download_s"] = downloads.seconds
    return r


def round_line(rnd, name, kind, r):
    line = (f"  r{rnd} {name:6s} {kind:5s} small GET p50 {r['p50_us'] / 1e3:.2f} · p99 {r['p99_us'] / 1e3:.2f} · "
            f"max {r['max_us'] / 1e3:.2f} ms, {r['rps']:.0f} req/s")
    return line + (f", downloads {r['download_s']:.2f} s" if "download_s" in r else "")


def table(a, results):
    """A row per proxy: medians over rounds, quiet and cold; p99 cold ÷ tern's."""
    gib = a.files * a.file_mib / 1024
    lines = [f"Small keep-alive GETs ({a.connections} clients) through each proxy, alone (quiet) and while "
             f"{a.files} cold files of {a.file_mib} MiB ({gib:g} GiB) are downloaded from it (cold); "
             f"{a.mode}, {a.workers} worker(s), {a.seconds} s runs, median of {a.rounds} rounds; ms", "",
             "| proxy | quiet p50 · p99 · max | cold p50 · p99 · max | cold req/s | downloads, s | cold p99 ÷ tern's |",
             "|---|---:|---:|---:|---:|---:|"]
    tern_p99 = median(r["p99_us"] for r in results["tern"]["cold"]) if "tern" in results else None
    for name, runs in results.items():
        def lat(kind):
            mid = [median(r[k] for r in runs[kind]) / 1e3 for k in ("p50_us", "p99_us", "max_us")]
            return " · ".join(f"{x:.2f}" for x in mid)
        p99 = median(r["p99_us"] for r in runs["cold"])
        ratio = f"{p99 / tern_p99:.2f}×" if tern_p99 else "–"
        lines.append(f"| {name} | {lat('quiet')} | {lat('cold')} | {median(r['rps'] for r in runs['cold']):.0f} | "
                     f"{median(r['download_s'] for r in runs['cold']):.2f} | {ratio} |")
    return "\n".join(lines)


def main(argv):
    a = parse_args(argv)
    base = tg.make_workdir("cold")
    wrk_cpus, server_cpus, placement = pinning.choose()
    print(f"placement: {placement}", flush=True)
    static_root = tg.make_static_root(base)
    names = make_cold_files(static_root, a.files, a.file_mib)
    origin = tg.start_origin("loadtest", a.root, base, a.workers, server_cpus)
    proxies, results = {}, {name: {"quiet": [], "cold": []} for name in a.proxies}
    try:
        for name in a.proxies:
            proxies[name] = tg.start_proxy(name, a.root, base, a.workers, server_cpus, origin.port,
                                           static_root=static_root, mode=a.mode)
        for rnd in range(1, a.rounds + 1):
            for name, target in proxies.items():
                for kind in ("quiet", "cold"):
                    r = one_run(a, target, origin, names, wrk_cpus, server_cpus, kind == "cold")
                    results[name][kind].append(r)
                    print(round_line(rnd, name, kind, r), flush=True)
    finally:
        for target in proxies.values():
            target.stop()
        origin.stop()
    print("\n" + table(a, results))
    print(tg.finish_workdir(base, a.keep), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
