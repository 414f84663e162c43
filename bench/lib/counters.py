"""Counting what a server asks of the kernel per request: syscalls, and for io_uring servers the
io_uring_enter calls, SQEs submitted (in total and by opcode) and CQEs posted.

Counts come from a pass of their own, never from the pass whose CPU time is reported: counting
costs the counted process a little (perf) or a lot (strace). Counts hardly depend on load or
noise, so one short pass per target is enough.

How, in order of preference:
  perf   `perf stat -e <tracepoints> -p PIDS` around a wrk run: kernel tracepoints counted per
         process (threads included), no sampling. Needs perf and tracefs
         (/sys/kernel/tracing/events/...). Event names vary by kernel; missing ones are n/a.
  strace `strace -c -f -p PIDS`: syscalls only, much slower for the traced process.
The per-syscall breakdown (which syscalls) always comes from strace -c, in a separate pass.
"""
import os
import re
import shutil
import signal
import subprocess
import time

TRACEFS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
# Column name -> tracepoint.
EVENTS = {
    "syscalls": "raw_syscalls:sys_enter",
    "enters": "syscalls:sys_enter_io_uring_enter",
    "sqes": "io_uring:io_uring_submit_req",
    "cqes": "io_uring:io_uring_complete",
    "poll_arms": "io_uring:io_uring_poll_arm",
}
# SQEs by opcode (include/uapi/linux/io_uring.h), counted with a tracepoint filter.
OPCODES = {"RECV": 27, "SEND": 26, "READ": 22, "WRITE": 23, "READV": 1, "WRITEV": 2, "SENDMSG": 9,
           "RECVMSG": 10, "POLL_ADD": 6, "POLL_REMOVE": 7, "TIMEOUT": 11, "TIMEOUT_REMOVE": 12,
           "LINK_TIMEOUT": 15, "ASYNC_CANCEL": 14, "ACCEPT": 13, "CONNECT": 16, "CLOSE": 19, "NOP": 0}
IO_URING_COLUMNS = ("enters", "sqes", "cqes", "poll_arms")


def tracefs():
    for d in TRACEFS:
        if os.path.isdir(os.path.join(d, "events")):
            return d
    return None


def event_exists(event, root):
    sub, name = event.split(":", 1)
    return root is not None and os.path.isdir(os.path.join(root, "events", sub, name))


def perf_events(with_opcodes):
    """(column, event, filter) to count, and why the others are n/a: ({column: reason}).
    with_opcodes adds one io_uring_submit_req counter per opcode ("sqe:RECV", ...)."""
    root = tracefs()
    if shutil.which("perf") is None:
        return [], {c: "perf not installed" for c in EVENTS}
    if root is None:
        return [], {c: "no tracefs mounted (/sys/kernel/tracing)" for c in EVENTS}
    chosen, missing = [], {}
    for col, ev in EVENTS.items():
        if event_exists(ev, root):
            chosen.append((col, ev, None))
        else:
            missing[col] = f"this kernel has no {ev} tracepoint"
    if with_opcodes and event_exists(EVENTS["sqes"], root):
        chosen += [(f"sqe:{op}", EVENTS["sqes"], f"opcode == {n}") for op, n in OPCODES.items()]
    return chosen, missing


def perf_command(events, pids, out_path):
    cmd = ["perf", "stat", "-x", ",", "-o", out_path]
    for _col, ev, flt in events:
        cmd += ["-e", ev] + (["--filter", flt] if flt else [])
    return cmd + ["-p", ",".join(str(p) for p in pids)]


def parse_perf_csv(text, events):
    """Counts from `perf stat -x ,` output, matched to events by order (the same tracepoint may be
    counted several times with different filters). "<not counted>" (the process never ran) is 0;
    "<not supported>" or a missing line is None."""
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#") and ln.count(",") >= 2]
    out = {}
    for i, (col, ev, _flt) in enumerate(events):
        fields = lines[i].split(",") if i < len(lines) else []
        if len(fields) < 3 or fields[2] != ev:
            out[col] = None
        elif fields[0].strip().isdigit():
            out[col] = int(fields[0])
        elif "not counted" in fields[0]:
            out[col] = 0
        else:
            out[col] = None
    return out


STRACE_TOTAL_RX = re.compile(r"^\s*100\.00\s+\S+\s+\S+\s+(\d+)\s+(?:\d+\s+)?total\s*$", re.M)
STRACE_ROW_RX = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$", re.M)


def parse_strace_summary(text):
    """{syscall: calls} and the total from `strace -c` output."""
    rows = {name: int(calls) for calls, name in STRACE_ROW_RX.findall(text) if name != "total"}
    m = STRACE_TOTAL_RX.search(text)
    total = int(m.group(1)) if m else sum(rows.values())
    return rows, total


def _stop(p, timeout=15):
    """SIGINT makes perf and strace print their totals; SIGKILL if they do not exit."""
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(5)


def around(counter_cmd, run_load, settle=1.0):
    """Starts counter_cmd (perf or strace, attached to the server's processes), runs run_load() while it counts,
    stops it. Returns (run_load's result, None or what went wrong); the result is None when the
    counter exited before the load started (then nothing ran)."""
    p = subprocess.Popen(counter_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         text=True, start_new_session=True)
    try:
        time.sleep(settle)  # let it attach to every thread before the load starts
        if p.poll() is not None:
            return None, f"{counter_cmd[0]} exited at once: {p.stderr.read().strip()[:200]}"
        result = run_load()
    finally:
        _stop(p)
    err = p.stderr.read().strip() if p.stderr else ""
    return result, (None if p.returncode in (0, -signal.SIGINT, 130) else f"{counter_cmd[0]} exit {p.returncode}: "
                    f"{err[:200]}")


def perf_counts(pids, run_load, tmpdir, with_opcodes):
    """Counts per-process tracepoints while run_load() runs. Returns (load result, counts, notes):
    counts {column: int or None}, notes {column: why it is n/a}."""
    events, notes = perf_events(with_opcodes)
    if not events:
        return run_load(), {}, notes
    out_path = os.path.join(tmpdir, "perf-stat.csv")
    result, err = around(perf_command(events, pids, out_path), run_load)
    if result is None:
        return None, {}, dict(notes, **{c: err for c, _e, _f in events})
    try:
        with open(out_path) as f:
            counts = parse_perf_csv(f.read(), events)
    except OSError as e:
        counts, err = {}, err or f"no perf output: {e}"
    if err:
        notes.update({c: err for c, _e, _f in events if counts.get(c) is None})
    for col, _ev, _flt in events:
        if counts.get(col) is None and col not in notes:
            notes[col] = "perf could not count it"
    return result, counts, notes


def strace_counts(pids, run_load, tmpdir):
    """strace -c -f over pids while run_load() runs: (load result, {syscall: calls}, total, error)."""
    if shutil.which("strace") is None:
        return run_load(), {}, None, "strace not installed"
    out_path = os.path.join(tmpdir, "strace-c.txt")
    cmd = ["strace", "-c", "-f", "-q", "-o", out_path]
    for pid in pids:
        cmd += ["-p", str(pid)]
    result, err = around(cmd, run_load)
    if result is None:
        return None, {}, None, err
    try:
        with open(out_path) as f:
            rows, total = parse_strace_summary(f.read())
    except OSError as e:
        return result, {}, None, err or f"no strace output: {e}"
    return result, rows, total, err


def per_request(counts, requests):
    """Counts divided by requests; None stays None."""
    return {k: (None if v is None or not requests else v / requests) for k, v in counts.items()}
