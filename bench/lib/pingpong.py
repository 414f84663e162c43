"""Two processes passing a byte back and forth through pipes, each pinned to its own CPU,
for a given time: the pre-flight load of bench/run.sh (procs.steal_under_load).

A proxy benchmark is threads on different CPUs waking each other thousands of times a
second. On a contended host the hypervisor takes its time from such a load more than from
a busy loop, which never gives its CPU back: a woken vCPU waits for a physical one (in
/proc/stat's steal). Measured on the VM of 2026-12-03: 0.1-0.2% steal under a busy loop on
both CPUs, 0.2-6.8% under this, 11-33% during some equal-load rounds minutes later.

    python3 pingpong.py SECONDS CPU_A CPU_B     prints the round trips made
"""
import os
import sys
import time

PAUSE_EVERY = 64  # round trips between short sleeps: the CPUs go idle and wake, as under a proxy's load
PAUSE = 0.0002


def echo(inbox, outbox):
    while True:
        byte = os.read(inbox, 1)
        if byte in (b"q", b""):
            return
        os.write(outbox, byte)


def main(seconds, cpu_a, cpu_b):
    to_echo, from_main = os.pipe()
    to_main, from_echo = os.pipe()
    child = os.fork()
    if child == 0:
        os.sched_setaffinity(0, {cpu_b})
        echo(to_echo, from_echo)
        os._exit(0)
    os.sched_setaffinity(0, {cpu_a})
    trips, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        os.write(from_main, b"x")
        os.read(to_main, 1)
        trips += 1
        if trips % PAUSE_EVERY == 0:
            time.sleep(PAUSE)
    os.write(from_main, b"q")
    os.waitpid(child, 0)
    print(trips)


if __name__ == "__main__":
    main(float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
