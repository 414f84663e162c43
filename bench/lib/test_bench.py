"""Self-tests for the benchmark machinery (no servers, no network):
    python3 -m unittest discover -s bench/lib -p 'test_*.py'"""
import contextlib
import os
import sys
import tempfile
import unittest
from unittest import mock
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
import cold  # noqa: E402
import comet  # noqa: E402
import paced  # noqa: E402
import procs  # noqa: E402
import report  # noqa: E402
import svgchart  # noqa: E402
import targets  # noqa: E402
import tlslat  # noqa: E402
import wrkrun  # noqa: E402

WRK_OUT = """Running 2s test @ http://127.0.0.1:1/
  1 threads and 64 connections
  179990 requests in 2.00s, 34.85MB read
Requests/sec:  89995.00
TERN_BENCH requests=179990 duration_us=2000000 bytes=36543210 p50_us=640 p90_us=900 p99_us=1500 p999_us=4000 max_us=9000 mean_us=700.5 connect=1 read=2 write=3 status=4 timeout=5
"""


def sample(target, rnd, rps, cpu, scenario="small", workers=1, mode="tuned"):
    return {"mode": mode, "workers": workers, "scenario": scenario, "target": target, "round": rnd, "rps": rps,
            "cpu_us_per_req": cpu, "p50_us": 500, "p99_us": 900, "p999_us": 2000, "errors": 0, "non2xx": 0,
            "requests": rps * 2, "foreign_cpu_pct": 1.0}


class WrkParse(unittest.TestCase):
    def test_summary_line(self):
        r = wrkrun.parse(WRK_OUT)
        self.assertEqual(r["requests"], 179990)
        self.assertAlmostEqual(r["rps"], 89995.0)
        self.assertEqual(r["p999_us"], 4000)
        self.assertEqual(r["errors"], 1 + 2 + 3 + 5)
        self.assertEqual(r["non2xx"], 4)

    def test_missing_line(self):
        with self.assertRaises(ValueError):
            wrkrun.parse("Requests/sec: 1\n")

    def test_command(self):
        sc = wrkrun.SCENARIOS["close"]
        cmd = wrkrun.wrk_command(sc, "127.0.0.1:9", "2s", 1, "5s")
        self.assertIn("Connection: close", cmd)
        self.assertEqual(cmd[-1], "http://127.0.0.1:9/")
        self.assertEqual(wrkrun._seconds("2m"), 120)

    def test_https_commands(self):
        paths = {"https": "/", "https-256k": "/bytes/262144", "https-close": "/", "https-resume": "/"}
        for name, path in paths.items():
            sc = wrkrun.SCENARIOS[name]
            cmd = wrkrun.wrk_command(sc, "127.0.0.1:9", "2s", 1, "5s")
            self.assertEqual(cmd[-1], "https://127.0.0.1:9" + path)
            self.assertEqual("Connection: close" in cmd, name.endswith(("close", "resume")))
            self.assertFalse(wrkrun.runs_on(sc, "origin"))
            self.assertTrue(all(wrkrun.runs_on(sc, t) for t in ("tern", "nginx", "haproxy")))
        self.assertTrue(wrkrun.SCENARIOS["https-close"].full_handshake)
        self.assertFalse(wrkrun.SCENARIOS["https-resume"].full_handshake)


    def test_compress_scenario(self):
        sc = wrkrun.SCENARIOS["compress"]
        cmd = wrkrun.wrk_command(sc, "127.0.0.1:9", "2s", 1, "5s")
        self.assertIn("Accept-Encoding: gzip", cmd)
        self.assertEqual(cmd[-1], "http://127.0.0.1:9/zip/page.html")
        self.assertEqual([t for t in ("origin", "tern", "nginx", "haproxy") if wrkrun.runs_on(sc, t)],
                         ["tern", "nginx"])
        page = targets.page_text(targets.TEXT_FILES["page.html"])
        self.assertEqual(len(page), 64 * 1024)
        self.assertLess(len(__import__("gzip").compress(page, 1)), len(page) // 2)


def git_repo(root, paths):
    """A git repository in `root` with one commit of `paths` (each holding "before"); returns a
    `git(*args)` that runs in it and returns its output, and `write(path, text)`."""
    import subprocess

    def git(*args):
        return subprocess.run(["git", "-C", root, "-c", "user.name=t", "-c", "user.email=t@t", *args],
                              check=True, capture_output=True, text=True).stdout.strip()

    def write(path, text):
        os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
        with open(os.path.join(root, path), "w") as f:
            f.write(text)
    for path in paths:
        write(path, "before\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "one")
    return git, write


class ReportNames(unittest.TestCase):
    def test_an_unpinned_pass_keeps_the_full_runs_latest(self):
        self.assertEqual(bench.report_names("20261206-0100", False, False), ("latest", "20261206-0100"))
        self.assertEqual(bench.report_names("20261206-0100", False, True),
                         ("latest-nopin", "20261206-0100-nopin"))
        self.assertEqual(bench.report_names("20261206-0100", True, True),
                         ("latest-nopin", "20261206-0100-nopin-quick"))


class GitRev(unittest.TestCase):
    def test_a_rewritten_report_does_not_mark_the_commit_but_a_changed_source_does(self):
        with tempfile.TemporaryDirectory() as root:
            _, write = git_repo(root, ("bench/results/latest.md", "src/lib.rs"))
            write("bench/results/latest.md", "a new run\n")
            self.assertNotIn("uncommitted", bench.git_rev(root))
            write("src/lib.rs", "changed\n")
            self.assertIn("uncommitted", bench.git_rev(root))


class DescribeBuild(unittest.TestCase):
    def test_one_commit_when_the_binary_was_built_from_the_sources(self):
        self.assertEqual(bench.describe_build("tern 0.1.0 (3e2a46b)\n", "3e2a46b"), "3e2a46b")
        self.assertEqual(bench.describe_build("tern 0.1.0 (3e2a46b + changes)\n",
                                              "3e2a46b (+ uncommitted changes)"),
                         "3e2a46b (+ uncommitted changes)")

    def test_both_when_the_binary_is_older_than_the_sources(self):
        self.assertEqual(bench.describe_build("tern 0.1.0 (45541eb)\n", "3e2a46b"),
                         "binary 45541eb; sources 3e2a46b")
        self.assertEqual(bench.describe_build("tern 0.1.0 (45541eb)\n", "45541eb (+ uncommitted changes)"),
                         "binary 45541eb; sources 45541eb (+ uncommitted changes)")

    def test_one_commit_with_a_note_when_only_other_files_changed_since_the_build(self):
        self.assertEqual(bench.describe_build("tern 0.1.0 (45541eb)\n", "3e2a46b", lambda c: c == "45541eb"),
                         "3e2a46b (binary built at 45541eb, the same tern sources)")
        # A binary built from edits is never taken for a commit's sources.
        self.assertEqual(bench.describe_build("tern 0.1.0 (45541eb + changes)\n", "3e2a46b", lambda c: True),
                         "binary 45541eb (+ uncommitted changes); sources 3e2a46b")

    def test_same_tern_sources_looks_at_src_not_at_docs(self):
        with tempfile.TemporaryDirectory() as root:
            git, write = git_repo(root, ("README.md", "src/lib.rs"))
            built = git("rev-parse", "--short", "HEAD")
            write("README.md", "docs\n")
            git("commit", "-q", "-am", "docs")
            self.assertTrue(bench.same_tern_sources(root, built))
            write("src/lib.rs", "changed\n")
            self.assertFalse(bench.same_tern_sources(root, built))

    def test_says_so_when_the_binary_names_no_commit(self):
        self.assertIn("unknown", bench.describe_build("tern 0.1.0\n", "3e2a46b"))


class TcpNote(unittest.TestCase):
    def proc_with(self, root, cc, qdisc):
        for name, value in (("ipv4/tcp_congestion_control", cc), ("core/default_qdisc", qdisc)):
            path = os.path.join(root, "sys/net", name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(value + "\n")

    def test_names_the_congestion_control_and_qdisc(self):
        with tempfile.TemporaryDirectory() as root:
            self.proc_with(root, "cubic", "fq_codel")
            self.assertEqual(bench.tcp_note(root), "congestion control cubic, default qdisc fq_codel")

    def test_bbr_points_at_what_it_does_to_the_figures(self):
        with tempfile.TemporaryDirectory() as root:
            self.proc_with(root, "bbr", "fq")
            self.assertIn("BBR on loopback", bench.tcp_note(root))
            self.proc_with(root, "reno", "fq")
            self.assertNotIn("BBR on loopback", bench.tcp_note(root))

    def test_unreadable_settings_are_question_marks(self):
        with tempfile.TemporaryDirectory() as root:
            self.assertEqual(bench.tcp_note(root), "congestion control ?, default qdisc ?")

    def test_the_shared_report_header_carries_it(self):
        # bench/run.sh's, floor.sh's and loadtest's comet reports all start from machine_meta.
        with tempfile.TemporaryDirectory() as root:
            keys = [k for k, _ in bench.machine_meta(root)]
        self.assertEqual(keys, ["date", "tern commit", "machine", "TCP"])


class Report(unittest.TestCase):
    def setUp(self):
        self.samples = [sample("tern", r, 120.0 + r, 4.0) for r in (1, 2, 3)] + \
                       [sample("nginx", r, 100.0, 5.0 + r) for r in (1, 2, 3)] + \
                       [{"workers": 1, "scenario": "small", "target": "haproxy", "round": 1, "error": "not built"}]
        self.agg = report.aggregate(self.samples)

    def test_median_and_range(self):
        g = self.agg[("tuned", 1, "small")]
        self.assertEqual(g["tern"]["rps"], (122.0, 121.0, 123.0))
        self.assertEqual(g["nginx"]["cpu_us_per_req"], (7.0, 6.0, 8.0))
        self.assertAlmostEqual(report.ratio(g, "tern", "nginx", "rps"), 1.22)
        self.assertIsNone(report.ratio(g, "tern", "haproxy", "rps"))

    def test_markdown(self):
        md = report.markdown(self.agg, wrkrun.SCENARIOS, [("date", "today")])
        self.assertIn("## tuned — configured alike", md)
        self.assertIn("| tuned | 1 | small | 122 | 1.22× | 0.57× |", md)
        self.assertIn("failed: not built", md)

    def test_wrk_cpu_per_request_is_shown_when_recorded(self):
        samples = [dict(sample("tern", 1, 100.0, 4.0), wrk_cpu_pct=90.0, wrk_cpu_us_per_req=12.5),
                   sample("nginx", 1, 100.0, 4.0)]
        table = report.scenario_table(report.aggregate(samples)[("tuned", 1, "small")], ("tuned", 1, "small"),
                                      wrkrun.SCENARIOS)
        rows = {line.split(" | ")[0]: line for line in table if line.startswith("| ")}
        self.assertTrue(rows["| tern"].endswith("| 90% · 12.5 |"), rows["| tern"])
        self.assertFalse(rows["| nginx"].endswith("· 12.5 |"), rows["| nginx"])

    def test_steal_is_shown_as_the_worst_round(self):
        samples = [dict(sample("tern", 1, 100.0, 4.0), steal_pct=2.0),
                   dict(sample("tern", 2, 100.0, 4.0), steal_pct=17.0), sample("nginx", 1, 100.0, 4.0)]
        table = report.scenario_table(report.aggregate(samples)[("tuned", 1, "small")], ("tuned", 1, "small"),
                                      wrkrun.SCENARIOS)
        rows = {line.split(" | ")[0]: line.split(" | ") for line in table if line.startswith("| ")}
        steal = rows["| target"].index("steal")
        self.assertEqual(rows["| tern"][steal], "17%")
        self.assertEqual(rows["| nginx"][steal], "–")

    def test_the_summary_row_shows_the_worst_steal_of_any_proxys_run(self):
        samples = [dict(sample("tern", 1, 100.0, 4.0), steal_pct=2.0), dict(sample("nginx", 1, 90.0, 4.0), steal_pct=1.0),
                   dict(sample("haproxy", 2, 80.0, 4.0), steal_pct=23.0), dict(sample("origin", 1, 200.0, 2.0), steal_pct=60.0)]
        agg = report.aggregate(samples)
        row = [line for line in report.summary_table(agg, [("tuned", 1, "small")], "tuned", {}) if "| small |" in line]
        self.assertTrue(row[0].endswith("| 23% |"), row)  # HAProxy's round, not tern's, nor the origin's direct run
        quiet = report.aggregate([sample("tern", 1, 100.0, 4.0)])
        row = [line for line in report.summary_table(quiet, [("tuned", 1, "small")], "tuned", {}) if "| small |" in line]
        self.assertTrue(row[0].endswith("| – |"), row)

    def test_samples_without_mode_are_tuned(self):
        old = [{k: v for k, v in x.items() if k != "mode"} for x in self.samples]
        self.assertEqual(set(report.aggregate(old)), {("tuned", 1, "small")})

    def test_one_table_per_mode_against_the_better_peer(self):
        def run(target, rps, cpu, user, conn, p99, mode):
            return dict(sample(target, 1, rps, cpu, mode=mode), cpu_user_us_per_req=user,
                        cpu_sys_us_per_req=cpu - user, connects_per_req=conn, p99_us=p99)
        samples = []
        for mode in ("tuned", "defaults"):
            samples += [run("tern", 150.0, 6.0, 2.0, 0.0, 1500, mode), run("nginx", 100.0, 8.0, 3.0, 0.5, 2200, mode),
                        run("haproxy", 120.0, 10.0, 4.0, 0.001, 900, mode)]
        md = report.markdown(report.aggregate(samples), wrkrun.SCENARIOS, [])
        # defaults first; req/s against HAProxy (faster), CPU against nginx (cheaper), p99 HAProxy's
        self.assertLess(md.index("## defaults — each proxy as it ships"), md.index("## tuned — configured alike"))
        for mode in ("defaults", "tuned"):
            self.assertIn(f"| {mode} | 1 | small | 150 | 1.25× | 0.75× | 2.00 + 4.00 · 3.00 + 5.00 · 4.00 + 6.00 | "
                          "0 · 0.500 · 0.001 | 1.50 ms · 900 µs |", md)
        self.assertIn("## small — GET 100 B, keep-alive, 64 conns — 1 worker — defaults", md)
        self.assertIn("| 2.00 + 4.00 | 0 |", md)
        self.assertIn("d1", report.console_table(report.aggregate(samples), wrkrun.SCENARIOS))

    def test_tls_handshake_line(self):
        samples = [dict(sample("tern", r, 100.0, 4.0, scenario="https-close"), tls_handshakes=200, tls_resumed=0)
                   for r in (1, 2)] + \
                  [dict(sample("nginx", r, 100.0, 4.0, scenario="https-close"), tls_handshakes=100, tls_resumed=50)
                   for r in (1, 2)]
        md = report.markdown(report.aggregate(samples), wrkrun.SCENARIOS, [])
        self.assertIn("TLS handshakes completed by wrk over the measured rounds: tern 400 (0% resumed), "
                      "nginx 200 (50% resumed).", md)
        self.assertIn("origin (direct): n/a", md)

    def test_svg_is_xml(self):
        svg = svgchart.render(self.agg, wrkrun.SCENARIOS, "t", "s")
        root = ET.fromstring(svg)
        self.assertTrue(root.tag.endswith("svg"))
        self.assertIn("tern/nginx: req/s 1.22×", svg)


class Templates(unittest.TestCase):
    def test_all_placeholders_filled(self):
        values = dict(WORKERS=2, NOFILE=20000, MAXCONN=9000, DIR="/tmp/x", PORT=1, ORIGIN_PORT=2, TIMEOUT="60s",
                      STATIC_ROOT="/tmp/s", ADMIN_PORT=4)
        names = [n for mode in targets.TEMPLATE.values() for n in mode.values()] + ["nginx-origin.conf.tmpl"]
        with tempfile.TemporaryDirectory() as d:
            for name in names:
                out = targets.render(name, os.path.join(d, name), **values)
                with open(out) as f:
                    text = f.read()
                self.assertNotIn("{{", text, name)
                self.assertIn("127.0.0.1:", text, name)

    def test_tls_sections(self):
        values = dict(WORKERS=1, NOFILE=20000, MAXCONN=9000, DIR="/tmp/x", PORT=1, ORIGIN_PORT=2, TIMEOUT="60s",
                      STATIC_ROOT="/tmp/s", ADMIN_PORT=4)
        tls = dict(TLS=True, TLS_PORT=3, TLS_CERT="/c.pem", TLS_KEY="/k.pem", TLS_PEM="/ck.pem")
        with tempfile.TemporaryDirectory() as d:
            for name, marker in (("tern.toml.tmpl", 'key = "/k.pem"'), ("nginx.conf.tmpl", "ssl_certificate_key /k.pem"),
                                 ("haproxy.cfg.tmpl", "ssl crt /ck.pem alpn h2,http/1.1"),
                                 ("tern-defaults.toml.tmpl", 'key = "/k.pem"'),
                                 ("nginx-defaults.conf.tmpl", "ssl_certificate_key /k.pem;"),
                                 ("haproxy-defaults.cfg.tmpl", "ssl crt /ck.pem")):
                with open(targets.render(name, os.path.join(d, name), **values)) as f:
                    plain = f.read()
                with open(targets.render(name, os.path.join(d, name), **values, **tls)) as f:
                    secure = f.read()
                self.assertNotIn("127.0.0.1:3", plain, name)
                self.assertNotIn("{{", secure, name)
                self.assertIn("127.0.0.1:3", secure, name)
                self.assertIn(marker, secure, name)
                self.assertTrue(secure.startswith(plain.split("127.0.0.1:1")[0]), name)

    def test_defaults_set_the_worker_count_only_when_told(self):
        values = dict(WORKERS=2, MAXCONN=9000, DIR="/tmp/x", PORT=1, ORIGIN_PORT=2, STATIC_ROOT="/tmp/s",
                      ADMIN_PORT=4)
        with tempfile.TemporaryDirectory() as d:
            def text(name, workers_set):
                with open(targets.render(name, os.path.join(d, name), WORKERS_SET=workers_set, **values)) as f:
                    return f.read()
            tern = text("tern-defaults.toml.tmpl", False)
            self.assertIn("[server]\n\n[admin]\nbind = \"127.0.0.1:4\"", tern)  # an empty [server]
            self.assertNotIn("workers", tern)
            self.assertIn("[server]\nworkers = 2\n", text("tern-defaults.toml.tmpl", True))
            self.assertIn("\nworker_processes auto;", text("nginx-defaults.conf.tmpl", False))
            self.assertIn("\nworker_processes 2;", text("nginx-defaults.conf.tmpl", True))
            self.assertNotIn("\\tnbthread", text("haproxy-defaults.cfg.tmpl", False))
            self.assertIn("\tnbthread 2", text("haproxy-defaults.cfg.tmpl", True))
            nginx = text("nginx-defaults.conf.tmpl", False)
            for needed in ("keepalive 16;", "proxy_http_version 1.1;", 'proxy_set_header Connection "";',
                           "access_log /tmp/x/access.log;"):
                self.assertIn(needed, nginx)
            self.assertNotIn("\\thttp-reuse", text("haproxy-defaults.cfg.tmpl", False))

    def test_every_proxy_answers_the_beacon_itself_in_both_modes(self):
        values = dict(WORKERS=1, NOFILE=20000, MAXCONN=9000, DIR="/tmp/x", PORT=1, ORIGIN_PORT=2,
                      TIMEOUT="60s", STATIC_ROOT="/tmp/s", ADMIN_PORT=4)
        answer = {"tern": 'path_prefix = "/beacon" respond = { status = 204 }',
                  "nginx": "location /beacon { return 204; }",
                  "haproxy": "http-request return status 204 if { path_beg /beacon }"}
        with tempfile.TemporaryDirectory() as d:
            for mode in targets.TEMPLATE.values():
                for proxy, name in mode.items():
                    with open(targets.render(name, os.path.join(d, name), **values)) as f:
                        text = " ".join(f.read().split())
                    self.assertIn(answer[proxy], text, name)

    def test_workers_to_set(self):
        self.assertTrue(targets.workers_to_set("tuned", 1, "1", "tern"))
        for name in ("tern", "haproxy"):  # one per CPU of the mask
            self.assertFalse(targets.workers_to_set("defaults", 1, "1", name))
            self.assertTrue(targets.workers_to_set("defaults", 2, "1", name))
            self.assertFalse(targets.workers_to_set("defaults", 2, "0,1", name))
            self.assertFalse(targets.workers_to_set("defaults", len(os.sched_getaffinity(0)), None, name))
        # nginx's 'auto': one per CPU online, whatever the mask
        self.assertEqual(targets.workers_to_set("defaults", 1, "1", "nginx"), os.cpu_count() != 1)
        self.assertFalse(targets.workers_to_set("defaults", os.cpu_count(), "1", "nginx"))

    def test_proxy_list_is_parsed_and_an_unknown_name_refused(self):
        p = targets.proxy_parser("bench/x.sh", "")
        self.assertEqual(targets.parse_proxy_args(p, []).proxies, ["tern", "nginx", "haproxy"])
        self.assertEqual(targets.parse_proxy_args(p, ["--proxies", " tern, nginx,"]).proxies, ["tern", "nginx"])
        with open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):
            with self.assertRaises(SystemExit):
                targets.parse_proxy_args(p, ["--proxies", "tern,bogus"])

    def test_a_work_directory_is_removed_after_a_run_unless_kept(self):
        base = targets.make_workdir("selftest")
        self.assertEqual(os.path.basename(base), f"tern-bench-selftest-{os.getpid()}")
        with open(os.path.join(base, "tern.log"), "w") as f:
            f.write("a line\n")
        self.assertIn("kept", targets.finish_workdir(base, keep=True))
        self.assertTrue(os.path.exists(os.path.join(base, "tern.log")))
        self.assertIn("removed", targets.finish_workdir(base, keep=False))
        self.assertFalse(os.path.exists(base))
        p = targets.proxy_parser("bench/x.sh", "")
        self.assertTrue(targets.parse_proxy_args(p, ["--keep"]).keep)
        self.assertFalse(bench.parse_args([]).keep)

    def test_sections(self):
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "t.tmpl")  # absolute: os.path.join(TEMPLATES, src) is src
            with open(src, "w") as f:
                f.write("a\n{{#X}}\nx {{V}}\n{{/X}}\n  {{^X}}\nnot x\n  {{/X}}\nb\n")
            with open(targets.render(src, os.path.join(d, "1"), X=True, V=7)) as f:
                self.assertEqual(f.read(), "a\nx 7\nb\n")
            with open(targets.render(src, os.path.join(d, "2"))) as f:
                self.assertEqual(f.read(), "a\nnot x\nb\n")

    def test_missing_value_is_an_error(self):
        with tempfile.TemporaryDirectory() as d, self.assertRaises(targets.TargetError):
            targets.render("tern.toml.tmpl", os.path.join(d, "t"), WORKERS=1)


class TlsLatency(unittest.TestCase):
    def test_rates_are_a_comma_list_of_positive_numbers(self):
        self.assertEqual(tlslat.parse_args(["--root", "/r", "--rates", "300, 1000"]).rates, [300.0, 1000.0])
        for bad in ("x", "300,0", ""):
            with self.assertRaises(SystemExit), contextlib.redirect_stderr(open(os.devnull, "w")):
                tlslat.parse_args(["--root", "/r", "--rates", bad])

    def test_each_cell_is_the_median_round_and_counts_are_summed(self):
        def run(total_p99, errors):
            r = {f"{p}_{q}_ms": 1.0 for p in tlslat.PARTS for q in ("p50", "p99", "p999")}
            r.update(total_p99_ms=total_p99, proxy_us=500.0, completed=100, resumed=100, errors=errors,
                     client_late_max_ms=0.5, client_cpu_pct=7.0)
            return r
        a = tlslat.parse_args(["--root", "/r", "--rounds", "3"])
        text = tlslat.table(300, {"tern": [run(9.0, 1), run(2.0, 0), run(3.0, 2)]}, a)
        row = text.splitlines()[-1]
        self.assertIn("| 1.00 · 3.00 · 1.00 |", row)
        self.assertIn("| 100% | 3 | 0.5 | 7% |", row)


class Cold(unittest.TestCase):
    def test_haproxy_serves_no_files_and_is_refused(self):
        self.assertEqual(cold.parse_args(["--root", "/r"]).proxies, ["tern", "nginx"])
        with self.assertRaises(SystemExit), contextlib.redirect_stderr(open(os.devnull, "w")):
            cold.parse_args(["--root", "/r", "--proxies", "tern,haproxy"])

    def test_each_cell_is_the_median_round_and_p99_is_compared_with_terns(self):
        def run(p99_ms, download_s=None):
            r = {"p50_us": 300.0, "p99_us": p99_ms * 1e3, "max_us": 9000.0, "rps": 30000.0}
            return r if download_s is None else dict(r, download_s=download_s)
        a = cold.parse_args(["--root", "/r", "--rounds", "3"])
        text = cold.table(a, {
            "tern": {"quiet": [run(1.0)] * 3, "cold": [run(4.0, 1.0), run(2.0, 3.0), run(90.0, 2.0)]},
            "nginx": {"quiet": [run(1.0)] * 3, "cold": [run(6.0, 1.0)] * 3}})
        tern_row, nginx_row = text.splitlines()[-2:]
        self.assertIn("| 0.30 · 4.00 · 9.00 | 30000 | 2.00 | 1.00× |", tern_row)
        self.assertIn("| 1.50× |", nginx_row)

    def test_a_round_line_shows_the_downloads_only_for_a_cold_run(self):
        r = {"p50_us": 310.0, "p99_us": 3630.0, "max_us": 12260.0, "rps": 38132.0}
        self.assertNotIn("downloads", cold.round_line(1, "tern", "quiet", r))
        self.assertIn("p99 3.63", cold.round_line(1, "tern", "quiet", r))
        self.assertIn("downloads 1.14 s", cold.round_line(1, "tern", "cold", dict(r, download_s=1.14)))


class Paced(unittest.TestCase):
    def test_only_plain_keep_alive_gets_and_fixed_posts_can_be_paced(self):
        for name in ("256k", "c1000", "static-1m", "ratelimit", "beacon"):
            self.assertIn(name, paced.SCENARIOS)
        for other in ("close", "post64k", "https", "compress"):
            self.assertNotIn(other, paced.SCENARIOS)
        with self.assertRaises(SystemExit), contextlib.redirect_stderr(open(os.devnull, "w")):
            paced.parse_args(["--root", "/r", "--scenario", "close"])
        self.assertEqual(paced.post_bytes(wrkrun.SCENARIOS["beacon"]), 512)
        self.assertEqual(paced.post_bytes(wrkrun.SCENARIOS["small"]), 0)

    def test_each_cell_is_the_median_round_and_errors_are_summed(self):
        def run(latency_p99, errors):
            r = {f"{p}_{q}_ms": 1.0 for p in ("latency", "service", "client_lag")
                 for q in ("p50", "p99", "p999", "max")}
            r.update(latency_p99_ms=latency_p99, proxy_us=50.0, achieved_rate=2000.0, errors=errors,
                     client_cpu_pct=30.0)
            return r
        a = paced.parse_args(["--root", "/r", "--rounds", "3"])
        text = paced.table(2000, {"tern": [run(9.0, 1), run(2.0, 0), run(3.0, 2)]},
                           wrkrun.SCENARIOS["256k"], a)
        row = text.splitlines()[-1]
        self.assertIn("| 1.00 · 3.00 · 1.00 |", row)
        self.assertIn("| 2000 | 3 | 1.00 · 1.00 | 30% |", row)

    def test_each_round_is_shown_as_it_ends_so_a_stall_in_one_is_not_hidden_by_the_median(self):
        r = {"latency_p50_ms": 0.31, "latency_p99_ms": 39.68, "latency_p999_ms": 58.37, "proxy_us": 24.9}
        line = paced.round_line(1, "tern", 9800, r)
        self.assertIn("r1 tern", line)
        self.assertIn("p99 39.68", line)
        self.assertIn("p99.9 58.37", line)

    def test_the_equal_load_rate_is_a_fraction_of_the_slowest_proxys_wrk_median(self):
        samples = [sample("tern", r, 3000.0, 4.0, scenario="256k") for r in (1, 2, 3)] + \
                  [sample("nginx", r, rps, 4.0, scenario="256k") for r, rps in ((1, 2000.0), (2, 2200.0), (3, 9e3))] + \
                  [sample("haproxy", 1, 100.0, 4.0, scenario="small"),  # another scenario
                   sample("haproxy", 1, 100.0, 4.0, scenario="256k", workers=2),  # another pass
                   dict(sample("haproxy", 1, 100.0, 4.0, scenario="256k"), error="died"),
                   dict(sample("haproxy", 1, 50.0, 4.0, scenario="256k"), kind="paced"),
                   sample("origin", 1, 10.0, 1.0, scenario="256k")]
        proxies = ("tern", "nginx", "haproxy")
        self.assertEqual(paced.equal_load_rate(samples, "tuned", 1, "256k", proxies, 0.5), 1100)
        self.assertIsNone(paced.equal_load_rate(samples, "defaults", 1, "256k", proxies, 0.5))

    def test_the_summary_compares_p99_at_the_shared_rate_and_wrk_figures_leave_paced_runs_out(self):
        def paced_run(target, rnd, p99):
            r = {"latency_p50_ms": 0.5, "latency_p99_ms": p99, "latency_p999_ms": 3.0, "achieved_rate": 1100.0,
                 "errors": 0, "proxy_us": 50.0}
            return paced.sample({"mode": "tuned", "workers": 1, "scenario": "256k", "target": target,
                                 "round": rnd, "rate": 1100}, r)
        samples = [sample(t, 1, 2000.0, 4.0, scenario="256k") for t in ("tern", "nginx", "haproxy")]
        samples += [paced_run("tern", r, p99) for r, p99 in ((1, 1.0), (2, 1.2), (3, 9.0))]
        samples += [paced_run("nginx", 1, 4.0), paced_run("haproxy", 1, 1.5)]
        agg = report.aggregate(samples)
        self.assertEqual(agg[("tuned", 1, "256k")]["tern"]["runs"], 1)
        md = report.markdown(agg, wrkrun.SCENARIOS, [], report.aggregate_paced(samples))
        self.assertIn("| 900 µs · 900 µs | 1.20 ms · 1.50 ms (1100/s) |", md)
        self.assertIn("At a fixed 1100 req/s offered to each", md)
        self.assertIn("tern 500 µs · 1.20 ms · 3.00 ms (1100 req/s)", md)
        self.assertIn("| 900 µs · 900 µs | – |", report.markdown(agg, wrkrun.SCENARIOS, []))

    def test_the_handshake_scenarios_are_paced_with_tls_latency_and_the_rest_with_paced(self):
        expected = {"small": "paced", "c1000": "paced", "https-close": "tls-latency",
                    "https-resume": "tls-latency", "https": None, "close": None, "post64k": None}
        for name, client in expected.items():
            self.assertEqual(bench.equal_load_client(wrkrun.SCENARIOS[name]), client, name)

    def test_equal_load_runs_last_the_paced_duration(self):
        a = bench.parse_args(["--duration", "4s", "--paced-duration", "7s"])
        seen = {}
        result = {f"{p}_{q}_ms": 1.0 for p in ("latency", "total") for q in ("p50", "p99", "p999")}
        result.update(achieved_rate=100.0, errors=0, proxy_us=10.0)

        def fake_paced(root, sc, target, origin, rate, seconds, cpus):
            seen["paced"] = seconds
            return result

        def fake_tls(root, target, origin, rate, seconds, full, cpus):
            seen["tls-latency"] = seconds
            return result
        with mock.patch.object(paced, "one_run", fake_paced), mock.patch.object(tlslat, "one_run", fake_tls):
            bench.equal_load_run(a, wrkrun.SCENARIOS["small"], "paced", None, None, 100, "0")
            bench.equal_load_run(a, wrkrun.SCENARIOS["https-close"], "tls-latency", None, None, 100, "0")
        self.assertEqual(seen, {"paced": 7.0, "tls-latency": 7.0})

    def test_equal_load_rounds_go_to_the_live_proxies_the_scenario_runs_on(self):
        running = {n: n for n in ("origin", "tern", "nginx", "haproxy")}
        static = bench.equal_load_proxies(running, {}, wrkrun.SCENARIOS["static-1m"])
        self.assertEqual(sorted(static), ["nginx", "tern"])
        small = bench.equal_load_proxies(running, {"nginx": "exited"}, wrkrun.SCENARIOS["small"])
        self.assertEqual(sorted(small), ["haproxy", "tern"])

    def test_a_tls_latency_run_counts_connections_from_each_slot(self):
        def tls_run(target, p99):
            r = {"total_p50_ms": 2.0, "total_p99_ms": p99, "total_p999_ms": 9.0, "handshake_p99_ms": 0.1,
                 "achieved_rate": 400.0, "errors": 0, "proxy_us": 300.0}
            return tlslat.sample({"mode": "tuned", "workers": 1, "scenario": "https-close", "target": target,
                                  "round": 1, "rate": 400}, r)
        samples = [sample(t, 1, 800.0, 40.0, scenario="https-close") for t in ("tern", "nginx", "haproxy")]
        samples += [tls_run("tern", 3.0), tls_run("nginx", 4.0), tls_run("haproxy", 5.0)]
        paced_agg = report.aggregate_paced(samples)
        md = report.markdown(report.aggregate(samples), wrkrun.SCENARIOS, [], paced_agg)
        self.assertIn("| 3.00 ms · 4.00 ms (400/s) |", md)
        self.assertIn("At a fixed 400 connections/s offered to each (tern-loadtest tls-latency", md)
        self.assertIn("tern 2.00 ms · 3.00 ms · 9.00 ms (400 connections/s)", md)


class Counters(unittest.TestCase):
    METRICS = """# HELP tern_upstream_connects_total New upstream connections opened.
# TYPE tern_upstream_connects_total counter
tern_upstream_connects_total{backend="origin",server="127.0.0.1:1"} 7
tern_upstream_connects_total{backend="other",server="127.0.0.1:2"} 3
tern_upstream_connects_total_extra 100
tern_requests_total{listener="0",class="2xx"} 1000
tern_requests_total{listener="0",class="5xx"} 2
"""

    def test_prometheus_sum(self):
        self.assertEqual(targets.prometheus_sum(self.METRICS, "tern_upstream_connects_total"), 10)
        self.assertEqual(targets.prometheus_sum(self.METRICS, "tern_requests_total"), 1002)
        self.assertEqual(targets.prometheus_sum(self.METRICS, "tern_missing"), 0)

    def test_origin_stats_both_origins(self):
        self.assertEqual(targets.parse_accepted("accepted 42\n"), 42)
        stub = "Active connections: 1 \nserver accepts handled requests\n 17 17 90 \nReading: 0 Writing: 1 Waiting: 0 \n"
        self.assertEqual(targets.parse_accepted(stub), 17)
        with self.assertRaises(targets.TargetError):
            targets.parse_accepted("ok\n")

    def test_connects_per_request(self):
        # tern: its own counters win; the origin's count (less the reading request) is kept too.
        r = wrkrun.connects_per_request("tern", {"origin_accepted": 10, "upstream_connects": 5, "proxy_requests": 100},
                                        {"origin_accepted": 12, "upstream_connects": 7, "proxy_requests": 1100}, 1000)
        self.assertEqual(r, {"origin_accepts_per_req": 0.001, "connects_per_req": 0.002})
        # nginx/HAProxy: the origin's count; no origin count, no figure.
        r = wrkrun.connects_per_request("nginx", {"origin_accepted": 10}, {"origin_accepted": 511}, 1000)
        self.assertEqual(r["connects_per_req"], 0.5)
        self.assertEqual(wrkrun.connects_per_request("haproxy", {}, {}, 1000), {})

    def test_user_and_steal_ticks_are_summed_over_the_cpus_asked_for(self):
        stat = ("cpu  100 1 50 900 0 0 3 40 0 0\n"
                "cpu0 60 1 20 400 0 0 1 10 0 0\n"
                "cpu1 40 0 30 500 0 0 2 30 0 0\n"
                "intr 12345\n")
        with mock.patch("builtins.open", mock.mock_open(read_data=stat)):
            self.assertEqual(procs.cpu_user_ticks("1"), 40)
            self.assertEqual(procs.cpu_user_ticks(None), 101)
            self.assertEqual(procs.cpu_steal_ticks("1"), 30)
            self.assertEqual(procs.cpu_steal_ticks("0,1"), 40)

    def test_a_share_is_of_the_time_of_the_cpus_named(self):
        ticks = procs.CLK_TCK * 2  # two CPU-seconds
        self.assertAlmostEqual(procs.share_pct(ticks, 4.0, "1"), 50.0)
        self.assertAlmostEqual(procs.share_pct(ticks, 4.0, "0,1"), 25.0)
        self.assertEqual(procs.share_pct(-5, 4.0, "1"), 0)

    def test_the_headers_steal_is_the_whole_runs_and_the_worst_wrk_rounds(self):
        samples = [dict(sample("tern", 1, 100.0, 4.0), steal_pct=6.0),
                   dict(sample("nginx", 1, 100.0, 4.0), steal_pct=3.0),
                   dict(sample("tern", 1, 100.0, 4.0), kind="paced", steal_pct=40.0)]
        with mock.patch.object(procs, "cpu_steal_ticks", return_value=procs.CLK_TCK * 1 + 100), \
                mock.patch.object(procs, "cpu_count", return_value=2):
            note = bench.steal_note(samples, 100, 10.0)
        self.assertTrue(note.startswith("5.0% of the CPUs' time over the run, 6% in the worst wrk run"), note)

    def test_the_preflight_warns_only_when_steal_is_above_the_threshold(self):
        for steal, warned in ((bench.STEAL_WARN_PCT + 1, True), (bench.STEAL_WARN_PCT - 1, False)):
            with mock.patch.object(procs, "steal_under_load", return_value=steal) as probe, \
                    mock.patch.object(bench, "say") as said:
                self.assertEqual(bench.preflight(3.0), steal)
            probe.assert_called_once_with(3.0)
            self.assertEqual(any("WARNING" in c.args[0] for c in said.call_args_list), warned, steal)
        with mock.patch.object(procs, "steal_under_load") as probe:
            self.assertIsNone(bench.preflight(0))
        probe.assert_not_called()

    def test_the_preflight_wakes_two_cpus_and_reports_steal_over_their_time(self):
        with mock.patch.object(procs, "run_bounded", return_value=("12345\n", "", 0)) as run, \
                mock.patch.object(procs, "cpu_steal_ticks", side_effect=[100, 100 + procs.CLK_TCK]), \
                mock.patch.object(procs.time, "time", side_effect=[50.0, 60.0]):
            pct = procs.steal_under_load(10, "0,1")
        self.assertAlmostEqual(pct, 5.0)  # one CPU-second of steal in 10 s of two CPUs
        cmd = run.call_args.args[0]
        self.assertTrue(cmd[1].endswith("pingpong.py"), cmd)
        self.assertEqual(cmd[2:], ["10", "0", "1"])
        with mock.patch.object(procs, "run_bounded", return_value=("", "boom", 1)), \
                self.assertRaises(RuntimeError):
            procs.steal_under_load(1, "0")

    def test_the_pingpong_load_makes_round_trips_between_its_cpus(self):
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pingpong.py")
        out, err, rc = procs.run_bounded([sys.executable, script, "0.2", "0", "0"], 30)
        self.assertEqual(rc, 0, err)
        self.assertGreater(int(out), 0)

    def test_a_run_disturbed_by_steal_is_repeated_and_the_least_stolen_kept(self):
        steals = iter([30.0, 12.0, 20.0])
        made = []

        def run(n):
            made.append(n)
            return {"rps": 100 + n, "steal_pct": next(steals)}

        with mock.patch.object(bench, "say"):
            kept = bench.least_stolen(run, 5.0, 2, "r1 tern")
        self.assertEqual(made, [0, 1, 2])
        self.assertEqual(kept, {"rps": 101, "steal_pct": 12.0, "steal_repeats": 2})

    def test_a_quiet_run_is_not_repeated(self):
        made = []
        for steal, repeats, runs in ((4.0, 2, 1), (None, 2, 1), (40.0, 0, 1)):
            made.clear()
            with mock.patch.object(bench, "say"):
                kept = bench.least_stolen(lambda n: made.append(n) or {"steal_pct": steal}, 5.0, repeats, "p1")
            self.assertEqual(len(made), runs, steal)
            self.assertEqual(kept["steal_repeats"], 0)

    def test_a_repeat_keeps_the_first_runs_raw_output(self):
        self.assertEqual(bench.repeat_path("/r/d-w1-small-tern-r1.txt", 0), "/r/d-w1-small-tern-r1.txt")
        self.assertEqual(bench.repeat_path("/r/d-w1-small-tern-r1.txt", 2), "/r/d-w1-small-tern-r1-repeat2.txt")

    def test_the_header_counts_the_runs_repeated_for_steal(self):
        samples = [{"steal_pct": 1.0, "steal_repeats": 0}, {"steal_pct": 3.0, "steal_repeats": 1},
                   {"steal_pct": 9.0, "steal_repeats": 2}, {"error": "x"}]
        self.assertEqual(bench.repeats_note(samples, 5.0),
                         "2 of 3 measured runs repeated for steal above 5%; 1 kept more than that after their repeats")

    def test_the_headers_steal_names_the_preflights_figure(self):
        with mock.patch.object(procs, "cpu_steal_ticks", return_value=0):
            self.assertIn("7.5% under the pre-flight load", bench.steal_note([], 0, 10.0, 7.5))
            self.assertNotIn("pre-flight", bench.steal_note([], 0, 10.0, None))

    def test_the_run_cpus_are_the_union_of_wrks_and_the_servers(self):
        self.assertEqual(wrkrun._union("1", "0"), "0,1")
        self.assertEqual(wrkrun._union("1,2", "2,3"), "1,2,3")
        self.assertIsNone(wrkrun._union(None, "0"))

    def test_cpu_split_of_this_process(self):
        # This process runs on between the reads, so a tick may pass: the split's sum must fall
        # between a total read before and one read after (equality failed once under load).
        before = procs.cpu_ticks([os.getpid()])
        user, system = procs.cpu_split([os.getpid()])
        after = procs.cpu_ticks([os.getpid()])
        self.assertGreaterEqual(user, 0)
        self.assertGreaterEqual(system, 0)
        self.assertTrue(before <= user + system <= after, (before, user, system, after))


class StaticRoot(unittest.TestCase):
    def test_the_static_root_is_made_once_so_a_running_proxy_keeps_its_files(self):
        with tempfile.TemporaryDirectory() as base:
            first = targets.make_static_root(base)
            # Held open as a running proxy holds them: a removed one shows no links left
            # (inode numbers alone can't tell, the filesystem reuses them at once).
            held = [os.open(first, os.O_RDONLY)] + \
                [os.open(os.path.join(first, name), os.O_RDONLY) for name in targets.STATIC_FILES]
            try:
                self.assertEqual(targets.make_static_root(base), first)
                for fd in held:
                    self.assertGreater(os.fstat(fd).st_nlink, 0)
            finally:
                for fd in held:
                    os.close(fd)
            for name, size in targets.STATIC_FILES.items():
                self.assertEqual(os.path.getsize(os.path.join(first, name)), size)


class Modes(unittest.TestCase):
    def test_both_modes_by_default(self):
        self.assertEqual(bench.parse_args([]).modes, ["defaults", "tuned"])
        self.assertEqual(bench.parse_args(["--defaults"]).modes, ["defaults"])
        self.assertEqual(bench.parse_args(["--modes", "tuned"]).modes, ["tuned"])
        with self.assertRaises(SystemExit):
            bench.parse_args(["--modes", "fast"])

    def test_equal_load_rounds_last_as_long_as_the_wrk_rounds_unless_told(self):
        self.assertEqual(bench.parse_args(["--quick"]).paced_duration, "2s")
        self.assertEqual(bench.parse_args(["--quick", "--paced-duration", "5s"]).paced_duration, "5s")
        self.assertEqual(bench.parse_args(["--duration", "4s"]).paced_duration, "4s")
        with self.assertRaises(SystemExit):
            bench.parse_args(["--paced-duration", "soon"])

    def test_modes_note_says_when_workers_were_set(self):
        note = bench.modes_note(["defaults", "tuned"], [1, 2], "1")
        self.assertIn("tern and HAProxy in the 2-worker pass", note)
        self.assertIn("tuned = configured alike", note)
        every_cpu = ",".join(str(c) for c in range(os.cpu_count()))
        self.assertIn("no worker count set", bench.modes_note(["defaults"], [os.cpu_count()], every_cpu))


class ConnectionLimits(unittest.TestCase):
    def test_every_proxy_has_room_for_the_most_clients_of_any_scenario(self):
        clients = max(s.connections for s in wrkrun.SCENARIOS.values())
        # nginx counts both sides of a proxied connection, HAProxy only the client's.
        self.assertGreaterEqual(targets.maxconn_for("nginx", clients), 2 * clients)
        self.assertGreaterEqual(targets.maxconn_for("haproxy", clients), clients)
        self.assertLess(targets.maxconn_for("nginx", clients), targets.NOFILE)

    def test_targets_get_an_origin_each_only_when_one_cannot_hold_them_all(self):
        every = ["origin", "tern", "nginx", "haproxy"]
        self.assertTrue(targets.one_origin_holds(1000, every))
        self.assertFalse(targets.one_origin_holds(wrkrun.SCENARIOS["c9000"].connections, every))
        self.assertTrue(targets.one_origin_holds(9000, ["tern"]))

    def test_the_usual_scenarios_keep_the_usual_limit(self):
        for name in ("nginx", "haproxy", "tern"):
            self.assertEqual(targets.maxconn_for(name, 1000), targets.MAXCONN, name)


class Comet(unittest.TestCase):
    def test_summarize_prefers_tool_figures(self):
        row = {"proxy": "tern", "rss_before": 1 << 20, "rss_peak": 3 << 20,
               "lp_json": {"established": 1000, "errors": 2, "delivery_p50_ms": 1.5, "delivery_p99_ms": 3.0,
                           "delivery_p999_ms": 9.0, "delivery_max_ms": 4.0, "proxy_rss_before_kib": 1024,
                           "proxy_rss_load_kib": 2048, "proxy_bytes_per_conn": 1048.6},
               "ws_json": {"established": 1000, "errors": 0, "rtt_p50_ms": 0.1, "rtt_p99_ms": 0.5,
                           "rtt_max_ms": 0.9, "messages_lost": 0},
               "rss_before_ws": 1 << 20, "ws_rss_peak": 2 << 20}
        s = comet.summarize(row)
        self.assertEqual((s["established"], s["errors"], s["p99"], s["max"]), (1000, 2, 3.0, 4.0))
        self.assertEqual(s["rss_load"], 2048 * 1024)
        self.assertEqual(s["per_conn"], 1048.6)
        self.assertAlmostEqual(s["per_conn_peak"], (2 << 20) / 1000)
        self.assertAlmostEqual(s["ws_per_conn"], (1 << 20) / 1000)

    def test_fd_budget(self):
        with self.assertRaises(SystemExit):
            comet.parse_args(["--connections", "9950"])
        self.assertEqual(comet.parse_args(["--connections", "9500"]).connections, 9500)


if __name__ == "__main__":
    unittest.main()
