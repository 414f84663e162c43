"""Which CPUs the load generator gets and which the servers (proxy + origin) get."""
import os


def _fmt(cpus):
    return ",".join(str(c) for c in cpus)


def choose(no_pin=False, client="wrk"):
    """Returns (client_cpus, server_cpus, description); CPU lists are taskset strings or None.

    `client` names the load generator in the description."""
    cpus = sorted(os.sched_getaffinity(0))
    if no_pin:
        return None, None, f"no pinning (--no-pin); {len(cpus)} CPUs shared"
    if len(cpus) < 2:
        return None, None, "no pinning: only 1 CPU"
    n_client = max(1, len(cpus) // 4)
    client_cpus, server = cpus[:n_client], cpus[n_client:]
    return (_fmt(client_cpus), _fmt(server),
            f"{client} on CPU {_fmt(client_cpus)}; proxy + origin on CPU {_fmt(server)} (taskset)")
