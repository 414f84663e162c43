"""Which CPUs wrk gets and which the servers (proxy + origin) get."""
import os


def _fmt(cpus):
    return ",".join(str(c) for c in cpus)


def choose(no_pin=False):
    """Returns (wrk_cpus, server_cpus, description); CPU lists are taskset strings or None."""
    cpus = sorted(os.sched_getaffinity(0))
    if no_pin:
        return None, None, f"no pinning (--no-pin); {len(cpus)} CPUs shared"
    if len(cpus) < 2:
        return None, None, "no pinning: only 1 CPU"
    n_wrk = max(1, len(cpus) // 4)
    wrk, server = cpus[:n_wrk], cpus[n_wrk:]
    return (_fmt(wrk), _fmt(server),
            f"wrk on CPU {_fmt(wrk)}; proxy + origin on CPU {_fmt(server)} (taskset)")
