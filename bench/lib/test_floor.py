"""Self-tests for bench/floor.sh's engine and its counters (no servers, no network, no perf):
    python3 -m unittest discover -s bench/lib -p 'test_*.py'"""
import contextlib
import io
import os
import sys
import tempfile
import unittest
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import counters  # noqa: E402
import floor  # noqa: E402

EVENTS = [("syscalls", "raw_syscalls:sys_enter", None), ("enters", "syscalls:sys_enter_io_uring_enter", None),
          ("sqes", "io_uring:io_uring_submit_req", None), ("cqes", "io_uring:io_uring_complete", None),
          ("sqe:RECV", "io_uring:io_uring_submit_req", "opcode == 27")]

PERF_CSV = """# started on Wed Dec  2 06:48:00 2026

107000,,raw_syscalls:sys_enter,3000000000,100.00,,
<not counted>,,syscalls:sys_enter_io_uring_enter,0,100.00,,
602000,,io_uring:io_uring_submit_req,3000000000,100.00,,
<not supported>,,io_uring:io_uring_complete,0,100.00,,
200000,,io_uring:io_uring_submit_req,3000000000,100.00,,
"""

STRACE_C = """% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 60.00    0.600000           3    200000           recvfrom
 39.00    0.390000           1    200000       120 sendto
  1.00    0.010000           2      4000           epoll_wait
------ ----------- ----------- --------- --------- ----------------
100.00    1.000000           2    404000       120 total
"""


def cpu_sample(target, rnd, rps, user, kernel, other=3.0):
    return {"target": target, "round": rnd, "rps": rps, "cpu_user_us_per_req": user,
            "cpu_sys_us_per_req": kernel, "cpu_us_per_req": user + kernel, "foreign_cpu_pct": other, "errors": 0}


class PerfCounts(unittest.TestCase):
    def test_csv_by_order_with_not_counted_and_not_supported(self):
        c = counters.parse_perf_csv(PERF_CSV, EVENTS)
        self.assertEqual(c["syscalls"], 107000)
        self.assertEqual(c["enters"], 0)        # the process never ran: nothing happened
        self.assertEqual(c["sqes"], 602000)
        self.assertIsNone(c["cqes"])            # could not be counted: n/a, not 0
        self.assertEqual(c["sqe:RECV"], 200000)  # the same tracepoint again, filtered

    def test_missing_or_mismatched_lines_are_none(self):
        c = counters.parse_perf_csv("107000,,raw_syscalls:sys_enter,1,100.00,,\n"
                                    "5,,something:else,1,100.00,,\n", EVENTS)
        self.assertEqual(c["syscalls"], 107000)
        self.assertIsNone(c["enters"])
        self.assertIsNone(c["sqe:RECV"])

    def test_command_puts_each_filter_after_its_event(self):
        cmd = counters.perf_command(EVENTS, [12, 34], "/tmp/x.csv")
        self.assertEqual(cmd[:6], ["perf", "stat", "-x", ",", "-o", "/tmp/x.csv"])
        i = cmd.index("--filter")
        self.assertEqual(cmd[i - 1], "io_uring:io_uring_submit_req")
        self.assertEqual(cmd[i + 1], "opcode == 27")
        self.assertEqual(cmd[-2:], ["-p", "12,34"])

    def test_no_perf_means_every_column_na_with_the_reason(self):
        with mock.patch.object(counters.shutil, "which", return_value=None):
            events, missing = counters.perf_events(True)
        self.assertEqual(events, [])
        self.assertEqual(set(missing), set(counters.EVENTS))
        self.assertIn("perf not installed", missing["syscalls"])

    def test_missing_tracepoints_are_named(self):
        with mock.patch.object(counters.shutil, "which", return_value="/usr/bin/perf"), \
                mock.patch.object(counters, "tracefs", return_value="/t"), \
                mock.patch.object(counters, "event_exists", side_effect=lambda ev, root: ev.startswith("raw_")):
            events, missing = counters.perf_events(True)
        self.assertEqual([c for c, _e, _f in events], ["syscalls"])  # no opcode counters without submit_req
        self.assertIn("io_uring:io_uring_submit_req", missing["sqes"])

    def test_per_request(self):
        self.assertEqual(counters.per_request({"a": 10, "b": None}, 4), {"a": 2.5, "b": None})
        self.assertEqual(counters.per_request({"a": 10}, 0), {"a": None})


class Around(unittest.TestCase):
    def test_the_load_runs_while_the_counter_counts_and_the_counter_is_stopped(self):
        result, err = counters.around(["sleep", "30"], lambda: 42, settle=0.05)
        self.assertEqual((result, err), (42, None))

    def test_a_counter_that_cannot_attach_runs_no_load(self):
        ran = []
        result, err = counters.around(["sh", "-c", "echo no permission >&2; exit 3"], lambda: ran.append(1),
                                      settle=0.3)
        self.assertIsNone(result)
        self.assertIn("exited at once: no permission", err)
        self.assertEqual(ran, [])

    def test_then_every_perf_column_says_why(self):
        with mock.patch.object(counters, "perf_events", return_value=(EVENTS, {"poll_arms": "no tracepoint"})), \
                mock.patch.object(counters, "around", return_value=(None, "perf exited at once: denied")):
            result, counts, notes = counters.perf_counts([1], lambda: None, "/tmp", False)
        self.assertIsNone(result)
        self.assertEqual(counts, {})
        self.assertEqual(notes["syscalls"], "perf exited at once: denied")
        self.assertEqual(notes["poll_arms"], "no tracepoint")


class StraceSummary(unittest.TestCase):
    def test_rows_and_total(self):
        rows, total = counters.parse_strace_summary(STRACE_C)
        self.assertEqual(rows, {"recvfrom": 200000, "sendto": 200000, "epoll_wait": 4000})
        self.assertEqual(total, 404000)

    def test_empty(self):
        self.assertEqual(counters.parse_strace_summary(""), ({}, 0))


class CountPass(unittest.TestCase):
    def test_strace_total_stands_in_when_perf_cannot_count_syscalls(self):
        a = floor.parse_args(["--root", "/nonexistent"])
        t = mock.Mock(name="t")
        t.name = "nginx"
        t.pids.return_value = [1]
        wrk = {"requests": 1000, "errors": 0}
        with mock.patch.object(floor, "wrk_load", return_value=lambda: wrk), \
                mock.patch.object(counters, "perf_counts",
                                  return_value=(wrk, {}, {"syscalls": "perf not installed"})), \
                mock.patch.object(counters, "strace_counts",
                                  return_value=(wrk, {"recvfrom": 2000, "writev": 2000}, 5000, None)):
            c = floor.count_pass(t, a, None, "/tmp")
        self.assertEqual(c["per_req"]["syscalls"], 5.0)
        self.assertEqual(c["syscalls_from"], "strace")
        self.assertNotIn("syscalls", c["notes"])
        self.assertEqual(c["strace_per_req"], {"recvfrom": 2.0, "writev": 2.0})


    def test_no_counter_attached_means_no_counts_not_a_crash(self):
        a = floor.parse_args(["--root", "/nonexistent"])
        t = mock.Mock(name="t")
        t.name = "tern"
        t.pids.return_value = [1]
        with mock.patch.object(counters, "perf_counts", return_value=(None, {}, {"sqes": "perf exited at once"})), \
                mock.patch.object(counters, "strace_counts", return_value=(None, {}, None, "strace exited at once")):
            c = floor.count_pass(t, a, None, "/tmp")
        self.assertEqual(c["per_req"], {})
        self.assertEqual(c["notes"], {"sqes": "perf exited at once"})
        self.assertEqual(c["strace_error"], "strace exited at once")
        self.assertIsNone(c["strace_total_per_req"])


class Summary(unittest.TestCase):
    SAMPLES = [cpu_sample("forwarder", r, 30000, 0.5, k) for r, k in ((1, 10.0), (2, 11.0), (3, 12.0))] + \
              [cpu_sample("tern-defaults", r, 25000 + r, 2.0, 12.0 + r) for r in (1, 2, 3)] + \
              [{"target": "nginx-tuned", "error": "did not listen"}]
    COUNTS = {"forwarder": {"per_req": {"syscalls": 4.05}, "notes": {"enters": "x"}},
              "tern-defaults": {"per_req": {"syscalls": 1.07, "enters": 0.07, "sqes": 6.0, "cqes": 6.0,
                                            "sqe:RECV": 2.0, "sqe:SEND": 2.0, "sqe:POLL_ADD": 1.0,
                                            "sqe:ASYNC_CANCEL": 1.0, "poll_arms": 0.4},
                                "notes": {}, "strace_per_req": {"recvfrom": 1.0, "io_uring_enter": 0.07},
                                "strace_total_per_req": 1.07}}
    NAMES = ["forwarder", "tern-defaults", "nginx-tuned"]

    def rows(self):
        return floor.summarize(self.SAMPLES, self.COUNTS, self.NAMES)

    def test_medians_and_multiples_of_the_forwarder(self):
        fwd, tern, nginx = self.rows()
        self.assertEqual(fwd["kernel"], 11.0)
        self.assertEqual(fwd["total"], 11.5)
        self.assertEqual(fwd["x_total"], 1.0)
        self.assertEqual(tern["rps"], 25002)
        self.assertEqual(tern["total"], 16.0)
        self.assertAlmostEqual(tern["x_total"], 16.0 / 11.5)
        self.assertAlmostEqual(tern["x_kernel"], 14.0 / 11.0)
        self.assertEqual(tern["sqes"], 6.0)
        self.assertEqual(nginx["rounds"], 0)
        self.assertIsNone(nginx["x_total"])

    def test_without_a_forwarder_no_multiples(self):
        rows = floor.summarize(self.SAMPLES, self.COUNTS, ["tern-defaults"])
        self.assertIsNone(rows[0]["x_total"])

    def test_markdown(self):
        md = floor.markdown(self.rows(), self.COUNTS, self.NAMES, [("date", "today")])
        self.assertIn("| minimal forwarder (epoll) | 30000 | 0.50 | 11.00 | 11.50 | 1.00× | 1.00× | 4.05 |", md)
        self.assertIn("| tern (defaults) | 25002 |", md)
        self.assertIn("| nginx (tuned) | failed: did not listen |", md)
        self.assertIn("| target | RECV | SEND | POLL_ADD | ASYNC_CANCEL | other | polls armed |", md)
        self.assertIn("| tern (defaults) | 2.00 | 2.00 | 1.00 | 1.00 | 0.00 | 0.40 |", md)
        self.assertIn("- tern (defaults) (1.07/req): recvfrom 1.00, io_uring_enter 0.07", md)
        # io_uring columns are not "missing" for servers that do not use io_uring
        self.assertNotIn("enters n/a", md)
        lines = md.splitlines()
        head = lines.index(next(x for x in lines if x.startswith("| target | req/s")))
        table = lines[head:lines.index("", head)]
        self.assertEqual(len(table), 2 + len(self.NAMES))
        self.assertEqual({x.count("|") for x in table}, {13})  # every row as wide as the header

    def test_console(self):
        out = floor.console(self.rows())
        self.assertIn("minimal forwarder (epoll)", out)
        self.assertIn("n/a", out)  # the failed target


class Args(unittest.TestCase):
    def test_defaults_run_every_target(self):
        a = floor.parse_args(["--root", "/r"])
        self.assertEqual(a.targets[0], "forwarder")
        self.assertEqual(a.targets, ["forwarder", "tern-defaults", "tern-tuned", "tern-nowatch", "nginx-defaults",
                                     "nginx-tuned", "haproxy-defaults", "haproxy-tuned"])
        self.assertEqual(set(floor.LABELS), set(floor.TARGETS))
        self.assertEqual(a.out, os.path.join("/r", "bench", "results"))

    def test_the_ring_forwarders_by_name_with_their_form(self):
        a = floor.parse_args(["--root", "/r", "--targets", "forwarder,forwarder-multishot"])
        self.assertEqual(a.targets, ["forwarder", "forwarder-multishot"])
        epoll = floor.forwarder_command("/b", "forwarder", 1, 2)
        self.assertEqual(epoll, ["/b", "forwarder", "--listen", "127.0.0.1:1", "--upstream", "127.0.0.1:2"])
        self.assertEqual(floor.forwarder_command("/b", "forwarder-fixed", 1, 2), epoll + ["--ring", "fixed"])
        self.assertTrue(floor.uses_io_uring("forwarder-ring") and floor.uses_io_uring("tern"))
        self.assertFalse(floor.uses_io_uring("forwarder") or floor.uses_io_uring("nginx-tuned"))

    def test_the_measurement_fits_in_ten_minutes(self):
        a = floor.parse_args(["--duration", "8s", "--rounds", "3"])
        self.assertLess(floor.estimate_seconds(a), 10 * 60)

    def test_nowatch_is_tern_tuned_with_the_client_watch_off(self):
        proxy, mode, (label, values) = floor.TARGETS["tern-nowatch"]
        self.assertEqual((proxy, mode, label), ("tern", "tuned", "nowatch"))
        base = dict(WORKERS=1, PORT=1, ADMIN_PORT=2, ORIGIN_PORT=3, TIMEOUT="60s", STATIC_ROOT="/s", TLS=False,
                    TLS_PORT=0, TLS_CERT="", TLS_KEY="", TLS_PEM="", WORKERS_SET=True)
        with tempfile.TemporaryDirectory() as d:
            with open(floor.tg.render("tern.toml.tmpl", os.path.join(d, "a"), **base, **values)) as f:
                watched_off = f.read()
            with open(floor.tg.render("tern.toml.tmpl", os.path.join(d, "b"), **base)) as f:
                tuned = f.read()
        self.assertIn('abort_on_close = "never"', watched_off)
        self.assertNotIn("abort_on_close", tuned)
        catch_all = watched_off.split("[[route]]")[-1]  # the route small's GET / takes
        self.assertIn('backend = "origin"\nabort_on_close = "never"', catch_all)

    def test_bad_target(self):
        with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(SystemExit):
            floor.parse_args(["--targets", "tern-defaults,squid"])


if __name__ == "__main__":
    unittest.main()
