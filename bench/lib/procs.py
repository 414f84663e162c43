"""Starting, watching and stopping the processes a benchmark owns.

Every process is started in its own session (process group) and stopped by that
group id, so nginx's master and workers go together; nothing is ever looked up or
killed by name. Only 127.0.0.1 is used.
"""
import atexit
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
_OWNED = []  # every Proc started, stopped at exit


def free_port():
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned(cmd, cpus):
    """Prefix cmd with taskset when a CPU list is given."""
    return (["taskset", "-c", cpus] + cmd) if cpus else cmd


class Proc:
    """A child process whose stdout/stderr lines are copied to a log file and can be waited for."""

    def __init__(self, name, cmd, log_path, cpus=None, env=None, nofile=None):
        self.name = name
        self.cmd = pinned(cmd, cpus)
        self.log_path = log_path
        self._lines = []
        self._cond = threading.Condition()
        self._log = open(log_path, "a", buffering=1)
        self._log.write("$ " + " ".join(self.cmd) + "\n")

        def limits():
            if nofile:
                import resource
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.popen = subprocess.Popen(
            self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            start_new_session=True, env=env, preexec_fn=limits if nofile else None)
        self.pid = self.popen.pid
        _OWNED.append(self)
        self._pumps = [threading.Thread(target=self._pump, args=(stream, tag), daemon=True)
                       for stream, tag in ((self.popen.stdout, "out"), (self.popen.stderr, "err"))]
        for t in self._pumps:
            t.start()

    def _pump(self, stream, tag):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                self._lines.append((tag, line))
                self._cond.notify_all()
            try:
                self._log.write(f"[{tag}] {line}\n")
            except ValueError:
                pass  # log closed

    def alive(self):
        return self.popen.poll() is None

    def wait_for(self, pattern, stream=None, timeout=20.0):
        """Wait for a line matching the regex; returns the match or None (exit or timeout)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for tag, line in self._lines[seen:]:
                    if (stream is None or tag == stream) and (m := rx.search(line)):
                        return m
                seen = len(self._lines)
                left = deadline - time.monotonic()
                if left <= 0 or not self.alive():
                    return None
                self._cond.wait(min(left, 0.2))

    def tail(self, n=8):
        if not self.alive():  # an exited process: let the pumps copy its last words first
            for t in self._pumps:
                t.join(1.0)
        with self._cond:
            return "\n".join(line for _, line in self._lines[-n:])

    def stop(self, grace=5.0):
        """SIGTERM the process group this process leads, then SIGKILL after grace seconds."""
        if self.popen.poll() is None:
            _signal_group(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(self.pid, signal.SIGKILL)
                self.popen.wait(5)
        # Workers left behind in the group (e.g. nginx workers after a master crash).
        _signal_group(self.pid, signal.SIGKILL)
        try:
            self._log.close()
        except Exception:
            pass
        if self in _OWNED:
            _OWNED.remove(self)


def _signal_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_all():
    for p in list(reversed(_OWNED)):
        p.stop(grace=3.0)


atexit.register(stop_all)


def _on_signal(signum, _frame):
    stop_all()
    raise SystemExit(128 + signum)


for _s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(_s, _on_signal)


def run_bounded(cmd, timeout, env=None):
    """Runs a load generator to completion in its own process group; kills the whole group
    (children included) on timeout or interruption. Returns (stdout, stderr, returncode);
    returncode is None after a timeout."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         text=True, env=env, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        return out, err, p.returncode
    except subprocess.TimeoutExpired:
        _signal_group(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        return out, (err or "") + f"\n[killed after {timeout:.0f}s]", None
    except BaseException:
        _signal_group(p.pid, signal.SIGKILL)
        p.wait()
        raise


# ---------------------------------------------------------------- /proc readings

def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    # comm may contain spaces and parentheses: split after the last ')'.
    return data[data.rindex(")") + 2:].split()


def descendants(root):
    """root and all its descendant PIDs (scans /proc for parent links)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(_stat_fields(entry)[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_ticks(pids, user_only=False):
    """utime+stime clock ticks summed over pids (threads are included in a process's stat)."""
    total = 0
    for pid in pids:
        try:
            f = _stat_fields(pid)
            total += int(f[11]) + (0 if user_only else int(f[12]))  # fields 14 and 15 of /proc/PID/stat
        except (OSError, ValueError, IndexError):
            pass
    return total


def cpu_split(pids):
    """(utime, stime) clock ticks summed over pids: user-mode and kernel time, threads included."""
    user = system = 0
    for pid in pids:
        try:
            f = _stat_fields(pid)
            user, system = user + int(f[11]), system + int(f[12])
        except (OSError, ValueError, IndexError):
            pass
    return user, system


def _cpu_stat_rows(cpus):
    """The tick counters (user nice system idle iowait irq softirq steal) of the given CPUs' lines
    in /proc/stat; cpus is a taskset-style list "1" or "1,2,3" (None = all CPUs)."""
    want = None if cpus is None else {f"cpu{c}" for c in cpus.split(",")}
    with open("/proc/stat") as f:
        for line in f:
            name, *vals = line.split()
            if name.startswith("cpu") and name != "cpu" and (want is None or name in want):
                yield [int(x) for x in vals[:8]]


def cpu_user_ticks(cpus):
    """User-mode (user + nice) ticks of the given CPUs. Kernel time is left out on purpose:
    loopback networking runs partly in softirq context that no process is charged for."""
    return sum(v[0] + v[1] for v in _cpu_stat_rows(cpus))


def cpu_steal_ticks(cpus):
    """Ticks the hypervisor ran something else while the given CPUs had work (steal): time a
    run lost to other tenants of the host, which no process in it is charged for."""
    return sum(v[7] for v in _cpu_stat_rows(cpus) if len(v) > 7)


def cpu_count(cpus):
    """How many CPUs a taskset-style list names ("1", "0,1"; None = all online)."""
    return len(cpus.split(",")) if cpus else (os.cpu_count() or 1)


def share_pct(ticks, seconds, cpus):
    """`ticks` of CPU time as a % of what the CPUs of `cpus` had in `seconds`."""
    return max(ticks, 0) / CLK_TCK / max(seconds, 1e-3) * 100 / cpu_count(cpus)


def steal_under_load(seconds, cpus=None):
    """The hypervisor's steal on `cpus` (None = all online) while two processes on two of
    them pass a byte back and forth for `seconds` (pingpong.py: the wake-ups a proxy's load
    makes), in % of their time: a contended host shows up here in seconds, before a long
    benchmark spends its time measuring the host instead of the servers."""
    names = [int(c) for c in cpus.split(",")] if cpus else sorted(os.sched_getaffinity(0))
    pair = [str(names[0]), str(names[-1])]
    before, started = cpu_steal_ticks(cpus), time.time()
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pingpong.py")
    _out, err, rc = run_bounded([sys.executable, script, f"{seconds:g}", *pair], seconds + 10)
    if rc != 0:
        raise RuntimeError(f"pingpong.py failed ({rc}): {err.strip()[-200:]}")
    return share_pct(cpu_steal_ticks(cpus) - before, time.time() - started, cpus)


def rss_bytes(pids):
    """VmRSS summed over pids, in bytes."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, ValueError):
            pass
    return total


def cpus_allowed(pids):
    """The distinct Cpus_allowed_list values over all threads of pids (checks the pinning held)."""
    seen = set()
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/status") as f:
                    for line in f:
                        if line.startswith("Cpus_allowed_list:"):
                            seen.add(line.split(":", 1)[1].strip())
            except OSError:
                pass
    return sorted(seen)


def wait_port(port, timeout=15.0, proc=None):
    """Wait until 127.0.0.1:port accepts connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False
