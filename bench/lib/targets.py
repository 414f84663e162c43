"""The things under test: the origin, tern, nginx and HAProxy, each started from a template
in bench/templates/ with the same worker count, listening on 127.0.0.1 only. Two modes:
"tuned" (NAME.tmpl: configured alike) and "defaults" (NAME-defaults.tmpl: each as it ships)."""
import argparse
import gzip
import http.client
import os
import re
import shutil
import ssl
import subprocess

import procs

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "templates")
ORIGIN_BODY = 100  # bytes of GET /
NOFILE = 20000     # the most files one process may open here
# Files that tern and nginx both serve under /static/ (the static-* scenarios).
STATIC_FILES = {"small.bin": 1024, "1m.bin": 1 << 20}
# Text that both compress on the way under /zip/ (the compress scenario): HTML-like lines
# of some variety, so the compressors work as on a real page (about 4:1 at level 1).
TEXT_FILES = {"page.html": 64 * 1024}


def page_text(size):
    """size bytes of deterministic HTML-like text."""
    words = ["proxy", "request", "response", "header", "stream", "client", "server", "event",
             "cache", "route", "worker", "buffer", "socket", "timeout", "upstream", "listener"]
    out, x = bytearray(), 12345
    while len(out) < size:
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out += (f'<li class="item-{x % 97}"><a href="/items/{x % 100000}">{words[x % 16]} '
                f'{words[(x >> 8) % 16]} {x % 1000}</a></li>\n').encode()
    return bytes(out[:size])
MODES = ("defaults", "tuned")
PROXIES = ("tern", "nginx", "haproxy")
LABEL_OF = {"tern": "tern", "nginx": "nginx", "haproxy": "HAProxy"}
# The config template of each proxy, by mode.
TEMPLATE = {
    "tuned": {"tern": "tern.toml.tmpl", "nginx": "nginx.conf.tmpl", "haproxy": "haproxy.cfg.tmpl"},
    "defaults": {"tern": "tern-defaults.toml.tmpl", "nginx": "nginx-defaults.conf.tmpl",
                 "haproxy": "haproxy-defaults.cfg.tmpl"},
}


def proxy_parser(prog, description, proxies=PROXIES):
    """An argument parser with what every side-by-side tool takes: --root (hidden), --proxies (by
    default `proxies`), --keep."""
    p = argparse.ArgumentParser(prog=prog, description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")),
                   help=argparse.SUPPRESS)
    p.add_argument("--proxies", default=",".join(proxies), help=f"comma list (default {','.join(proxies)})")
    add_keep(p)
    return p


def add_keep(p):
    """--keep: the work directory outlives a run that ended normally."""
    p.add_argument("--keep", action="store_true",
                   help="keep the servers' configs and logs (/tmp/tern-bench-*-PID) after a run that ended "
                        "normally; a run that fails keeps them anyway")


def make_workdir(kind=""):
    """/tmp/tern-bench[-KIND]-PID, for a run's server configs and logs (readable by the proxies'
    unprivileged workers)."""
    base = os.path.join("/tmp", f"tern-bench-{kind}-{os.getpid()}" if kind else f"tern-bench-{os.getpid()}")
    os.makedirs(base, exist_ok=True)
    os.chmod(base, 0o755)
    return base


def finish_workdir(base, keep):
    """At the end of a run that ended normally: the work directory removed (its configs and logs
    are 1-40 MB a run, and every run makes one), or kept with --keep. Returns what to say."""
    if keep:
        return f"server configs and logs kept in {base}"
    shutil.rmtree(base, ignore_errors=True)
    return f"removed {base} (--keep keeps it)"


def parse_proxy_args(p, argv):
    """p.parse_args, with --proxies turned into a list of known names (else a usage error)."""
    a = p.parse_args(argv)
    a.proxies = [x.strip() for x in a.proxies.split(",") if x.strip()]
    bad = [x for x in a.proxies if x not in PROXIES]
    if bad:
        p.error(f"unknown proxy: {', '.join(bad)}")
    return a

class TargetError(Exception):
    pass


SECTION_RX = re.compile(r"^[ \t]*\{\{([#^])(\w+)\}\}[ \t]*\n(.*?)^[ \t]*\{\{/\2\}\}[ \t]*\n", re.M | re.S)


def render(template, dest, **values):
    """Fill {{NAME}} placeholders; every placeholder must be given a value. Lines between
    {{#NAME}} and {{/NAME}} are kept only if NAME is given and true, lines between {{^NAME}}
    and {{/NAME}} only if it is not (the TLS parts of the proxy configs)."""
    with open(os.path.join(TEMPLATES, template)) as f:
        text = f.read()
    text = SECTION_RX.sub(lambda m: m.group(3) if bool(values.get(m.group(2))) == (m.group(1) == "#") else "", text)
    missing = set(re.findall(r"\{\{(\w+)\}\}", text)) - set(values)
    if missing:
        raise TargetError(f"{template}: no value for {sorted(missing)}")
    for key, val in values.items():
        text = text.replace("{{" + key + "}}", str(val))
    with open(dest, "w") as f:
        f.write(text)
    return dest


class Target:
    """A started server: name, port, its Proc (whose process group holds all its processes)."""

    def __init__(self, name, port, proc, config=None, note="", tls_port=None):
        self.name, self.port, self.proc, self.config, self.note = name, port, proc, config, note
        self.tls_port = tls_port  # the HTTPS listener, when the target terminates TLS
        self.tls_note = ""        # what the health check negotiated, e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384"
        self.admin_port = None    # tern's admin endpoint (its /metrics counts upstream connects)
        self.logs = []            # access logs the defaults write: emptied after each run (disk)

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    @property
    def tls_addr(self):
        return f"127.0.0.1:{self.tls_port}" if self.tls_port else None

    def pids(self):
        return procs.descendants(self.proc.pid)

    def stop(self):
        self.proc.stop()

    def trim_logs(self):
        """Empties the access logs (the writer appends, so it goes on at the new end)."""
        for path in self.logs:
            try:
                os.truncate(path, 0)
            except OSError:
                pass


def http_get(port, path, timeout=5.0):
    """The body of GET 127.0.0.1:port/path (must answer 200); raises TargetError."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read().decode("utf-8", "replace")
        conn.close()
    except (OSError, http.client.HTTPException) as e:
        raise TargetError(f"GET :{port}{path} failed: {e}") from e
    if resp.status != 200:
        raise TargetError(f"GET :{port}{path} answered {resp.status}")
    return body


def prometheus_sum(text, name):
    """The sum of every sample of metric `name` (all label sets) in Prometheus text."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name):len(name) + 1] in ("{", " "):
            try:
                total += float(line.rsplit(None, 1)[1])
            except (IndexError, ValueError):
                pass
    return total


def tern_counters(target):
    """tern's own count of upstream connects and of requests answered, from its admin /metrics."""
    text = http_get(target.admin_port, "/metrics")
    return {"upstream_connects": prometheus_sum(text, "tern_upstream_connects_total"),
            "proxy_requests": prometheus_sum(text, "tern_requests_total")}


def parse_accepted(body):
    """Connections accepted, from the origin's GET /origin-stats: tern-loadtest's "accepted N",
    or nginx's stub_status (the first number under "server accepts handled requests")."""
    lines = body.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("accepted "):
            return int(line.split()[1])
        if line.strip().startswith("server accepts") and i + 1 < len(lines):
            return int(lines[i + 1].split()[0])
    raise TargetError(f"no connection count in /origin-stats: {body[:80]!r}")


def origin_accepted(origin):
    """Connections the origin has accepted so far, this request's own included."""
    return parse_accepted(http_get(origin.port, "/origin-stats"))


def check_http(port, path="/", expect_len=None, timeout=5.0, tls=False):
    """One GET through the target; raises TargetError unless it answers 200 (and the length matches).
    tls: over HTTPS (certificate not verified); returns the negotiated "version cipher"."""
    scheme = "https" if tls else "http"
    negotiated = ""
    try:
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        if tls and conn.sock is not None:
            negotiated = f"{conn.sock.version()} {conn.sock.cipher()[0]}"
        conn.close()
    except (OSError, http.client.HTTPException) as e:
        raise TargetError(f"GET {scheme}://:{port}{path} failed: {e}") from e
    if resp.status != 200:
        raise TargetError(f"GET {scheme}://:{port}{path} answered {resp.status}")
    if expect_len is not None and len(body) != expect_len:
        raise TargetError(f"GET {scheme}://:{port}{path} returned {len(body)} bytes, expected {expect_len}")
    return negotiated


def check_beacon(port):
    """Two POSTs with a body to /beacon (the second on the same connection if the proxy kept it);
    raises TargetError unless each gets the 204 the proxy makes itself (the beacon scenario must
    measure that answer, not a 404)."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5.0)
        for _ in range(2):
            conn.request("POST", "/beacon", body=b"b" * 512)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 204:
                raise TargetError(f"POST :{port}/beacon answered {resp.status}, not 204")
        conn.close()
    except (OSError, http.client.HTTPException) as e:
        raise TargetError(f"POST :{port}/beacon failed: {e}") from e


def check_gzip(port, path):
    """One GET with Accept-Encoding: gzip; raises TargetError unless the answer is gzip-compressed
    and decodes to the file (the compress scenario must compare compression, not a plain send)."""
    name = path.rsplit("/", 1)[-1]
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5.0)
        conn.request("GET", path, headers={"Accept-Encoding": "gzip"})
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
    except (OSError, http.client.HTTPException) as e:
        raise TargetError(f"GET :{port}{path} (gzip) failed: {e}") from e
    if resp.status != 200 or resp.getheader("Content-Encoding") != "gzip":
        raise TargetError(f"GET :{port}{path} answered {resp.status}, "
                          f"Content-Encoding {resp.getheader('Content-Encoding')!r}, not gzip")
    try:
        plain = gzip.decompress(body)
    except (OSError, EOFError) as e:
        raise TargetError(f"GET :{port}{path}: not a gzip stream: {e}") from e
    if plain != page_text(TEXT_FILES[name]):
        raise TargetError(f"GET :{port}{path}: the gzip stream does not decode to the file")


def _fail(proc, why):
    tail = proc.tail()
    proc.stop()
    raise TargetError(f"{proc.name}: {why}" + (f"\n    last output:\n    {tail}" if tail else ""))


def _workdir(base, name):
    d = os.path.join(base, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    os.chmod(d, 0o755)
    return d


def make_static_root(base):
    """A directory with STATIC_FILES and TEXT_FILES, readable by nginx's workers; returns its path.
    Made once per base: a later call (each start_proxy without static_root makes one) leaves the
    directory and its files alone, so a proxy already serving them keeps them (removing and
    remaking it once cost tern, which held the directory open then, every static request)."""
    d = os.path.join(base, "static-www")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    wanted = {name: bytes(i % 251 for i in range(size)) for name, size in STATIC_FILES.items()}
    wanted.update({name: page_text(size) for name, size in TEXT_FILES.items()})
    for name, data in wanted.items():
        path = os.path.join(d, name)
        if not (os.path.isfile(path) and os.path.getsize(path) == len(data)):
            with open(path, "wb") as f:
                f.write(data)
        os.chmod(path, 0o644)
    return d


class TlsFiles:
    """One self-signed ECDSA P-256 certificate for all three proxies: cert.pem + key.pem
    (tern, nginx) and both in one file (HAProxy's crt)."""

    def __init__(self, d):
        self.cert, self.key, self.combined = (os.path.join(d, n) for n in ("cert.pem", "key.pem", "combined.pem"))


def make_tls_cert(base):
    """A fresh self-signed certificate for CN=localhost / 127.0.0.1 in base/tls/ (openssl)."""
    d = _workdir(base, "tls")
    t = TlsFiles(d)
    cmd = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
           "-keyout", t.key, "-out", t.cert]
    try:
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise TargetError(f"openssl req failed: {e}") from e
    if cp.returncode != 0:
        raise TargetError(f"openssl req failed: {cp.stderr.strip()[:300]}")
    with open(t.combined, "w") as out:
        for path in (t.cert, t.key):
            with open(path) as f:
                out.write(f.read())
    for path in (t.cert, t.key, t.combined):
        os.chmod(path, 0o644)  # a throwaway key for 127.0.0.1; readable whoever the server runs as
    return t


# ------------------------------------------------------------------ origins

def start_origin(kind, root, base, workers, cpus, body_sizes=(), label="origin"):
    """kind: 'loadtest' (tern-loadtest origin) or 'nginx' (fallback serving fixed files). label
    names its directory under base (several origins in one pass need their own)."""
    if kind == "loadtest":
        return _start_loadtest_origin(root, _workdir(base, label), workers, cpus)
    if kind == "nginx":
        return _start_nginx_origin(_workdir(base, label), workers, cpus, body_sizes)
    raise TargetError(f"unknown origin kind {kind!r}")


def one_origin_holds(clients, targets):
    """Whether one origin process can hold the connections of every target at once when each may
    keep one per client (tern's pool keeps what the peak needed, HAProxy's idle server
    connections): below its open-files limit with room to spare."""
    return clients * len(targets) < NOFILE - 1000


def release_binary(root, name):
    """Where `cargo build --release` put name: under CARGO_TARGET_DIR when set, else root/target."""
    return os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(root, "target"), "release", name)


def _start_loadtest_origin(root, d, workers, cpus):
    binary = release_binary(root, "tern-loadtest")
    if not os.access(binary, os.X_OK):
        raise TargetError(f"{binary} not built")
    port = procs.free_port()
    cmd = [binary, "origin", "--listen", f"127.0.0.1:{port}", "--workers", str(workers),
           "--body-size", str(ORIGIN_BODY)]
    p = procs.Proc("origin", cmd, os.path.join(d, "origin.log"), cpus=cpus)
    if not p.wait_for(r"listening on \S+:(\d+)", stream="out", timeout=15):
        _fail(p, "did not print 'listening on'")
    check_http(port, "/", ORIGIN_BODY)
    return Target("origin", port, p, note="tern-loadtest origin")


def _start_nginx_origin(d, workers, cpus, body_sizes):
    www = os.path.join(d, "www")
    os.makedirs(os.path.join(www, "bytes"))
    with open(os.path.join(www, "index.bin"), "wb") as f:
        f.write(b"x" * ORIGIN_BODY)
    for n in body_sizes:
        with open(os.path.join(www, "bytes", str(n)), "wb") as f:
            f.write(b"x" * n)
    for dirpath, dirnames, filenames in os.walk(d):
        os.chmod(dirpath, 0o755)
        for fn in filenames:
            os.chmod(os.path.join(dirpath, fn), 0o644)
    port = procs.free_port()
    conf = render("nginx-origin.conf.tmpl", os.path.join(d, "nginx.conf"), WORKERS=workers,
                  NOFILE=NOFILE, MAXCONN=9000, DIR=d, PORT=port, TIMEOUT="600s")
    p = procs.Proc("origin", ["nginx", "-p", d, "-c", conf, "-g", "daemon off;"],
                   os.path.join(d, "stdout.log"), cpus=cpus)
    if not procs.wait_port(port, proc=p):
        _fail(p, "nginx origin did not listen")
    check_http(port, "/", ORIGIN_BODY)
    return Target("origin", port, p, config=conf, note="nginx fallback origin")


# ------------------------------------------------------------------ proxies

def own_worker_count(name, cpus):
    """The workers a proxy starts when not told: tern and HAProxy one per CPU of their affinity
    mask (cpus: the taskset list the servers run on, None = every CPU this process may use);
    nginx 1.22's `worker_processes auto`, one per CPU online, whatever the mask."""
    if name == "nginx":
        return os.cpu_count() or 1
    return len(cpus.split(",")) if cpus else len(os.sched_getaffinity(0))


def workers_to_set(mode, workers, cpus, name):
    """Whether the config names the worker count: always when tuned; at defaults only when the
    pass needs a count the proxy would not pick by itself."""
    return mode == "tuned" or workers != own_worker_count(name, cpus)


MAXCONN = 9000  # each proxy's connection limit, unless a scenario's clients need more (maxconn_for)


def maxconn_for(name, clients):
    """The connection limit to give proxy `name` when `clients` connect at once: MAXCONN, unless
    they need more. nginx's worker_connections counts client and upstream connections (idle
    cached ones too), so it then gets all a process may open; HAProxy's maxconn counts clients."""
    if name == "nginx":
        return MAXCONN if 2 * clients + 1000 <= MAXCONN else NOFILE - 100
    return max(MAXCONN, clients + 100)


def start_proxy(name, root, base, workers, cpus, origin_port, timeout="60s", maxconn=MAXCONN, static_root=None,
                tls=None, mode="tuned", variant=None):
    """tls: a TlsFiles; the proxy then also terminates TLS on a second listener (Target.tls_port).
    mode: "tuned" or "defaults" (which template, MODES). variant: (label, {placeholder: value}) to
    turn on a section of the template for an experiment; label names its own directory."""
    starter = {"tern": _start_tern, "nginx": _start_nginx, "haproxy": _start_haproxy}[name]
    static_root = static_root or make_static_root(base)
    # The placeholders every template shares beyond ports and paths, and which template.
    values = {"TLS": bool(tls), "TLS_PORT": procs.free_port() if tls else 0,
              "TLS_CERT": tls.cert if tls else "", "TLS_KEY": tls.key if tls else "",
              "TLS_PEM": tls.combined if tls else "", "TEMPLATE": TEMPLATE[mode][name],
              "WORKERS_SET": workers_to_set(mode, workers, cpus, name)}
    label, extra = variant or (mode, {})
    values.update(extra)
    t = starter(root, _workdir(base, f"{name}-{label}"), workers, cpus, origin_port, timeout, maxconn, static_root,
                values)
    try:
        check_http(t.port, "/", ORIGIN_BODY)
        check_beacon(t.port)
        if name in ("tern", "nginx"):
            check_http(t.port, "/static/small.bin", STATIC_FILES["small.bin"])
            check_gzip(t.port, "/zip/page.html")
        if tls:
            if not procs.wait_port(values["TLS_PORT"], proc=t.proc):
                raise TargetError(f"{name}: TLS listener :{values['TLS_PORT']} did not open")
            t.tls_port = values["TLS_PORT"]
            t.tls_note = check_http(t.tls_port, "/", ORIGIN_BODY, tls=True)
    except TargetError:
        t.stop()
        raise
    return t


def _start_tern(root, d, workers, cpus, origin_port, timeout, maxconn, static_root, values):
    binary = release_binary(root, "tern")
    if not os.access(binary, os.X_OK):
        raise TargetError(f"{binary} not built")
    port, admin_port = procs.free_port(), procs.free_port()
    conf = render(values.pop("TEMPLATE"), os.path.join(d, "tern.toml"), WORKERS=workers, PORT=port,
                  ADMIN_PORT=admin_port, ORIGIN_PORT=origin_port, TIMEOUT=timeout, STATIC_ROOT=static_root, **values)
    p = procs.Proc("tern", [binary, "--config", conf], os.path.join(d, "tern.log"), cpus=cpus)
    m = p.wait_for(r" started:.*", stream="err", timeout=15)
    if not m:
        _fail(p, "did not print ' started:' (exited or not ready in 15 s)")
    t = Target("tern", port, p, config=conf, note=m.group(0).strip())
    t.admin_port = admin_port
    return t


def _start_nginx(root, d, workers, cpus, origin_port, timeout, maxconn, static_root, values):
    port = procs.free_port()
    conf = render(values.pop("TEMPLATE"), os.path.join(d, "nginx.conf"), WORKERS=workers, NOFILE=NOFILE,
                  MAXCONN=maxconn, DIR=d, PORT=port, ORIGIN_PORT=origin_port, TIMEOUT=timeout,
                  STATIC_ROOT=static_root, **values)
    p = procs.Proc("nginx", ["nginx", "-p", d, "-c", conf, "-g", "daemon off;"],
                   os.path.join(d, "stdout.log"), cpus=cpus)
    if not procs.wait_port(port, proc=p):
        _fail(p, "did not listen")
    t = Target("nginx", port, p, config=conf)
    access_log = os.path.join(d, "access.log")  # the defaults' (Debian's access_log on), created at start
    t.logs = [access_log] if os.path.exists(access_log) else []
    return t


def _start_haproxy(root, d, workers, cpus, origin_port, timeout, maxconn, static_root, values):
    port = procs.free_port()
    conf = render(values.pop("TEMPLATE"), os.path.join(d, "haproxy.cfg"), WORKERS=workers,
                  MAXCONN=maxconn, DIR=d, PORT=port, ORIGIN_PORT=origin_port, TIMEOUT=timeout, **values)
    p = procs.Proc("haproxy", ["haproxy", "-db", "-f", conf], os.path.join(d, "haproxy.log"), cpus=cpus)
    if not procs.wait_port(port, proc=p):
        _fail(p, "did not listen")
    return Target("haproxy", port, p, config=conf)
