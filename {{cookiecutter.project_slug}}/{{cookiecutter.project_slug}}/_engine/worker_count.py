"""How many workers: half the CPUs this process may use, never 0; or a count of
yours, checked.
"""

from __future__ import annotations

import math
import os
from pathlib import Path


def default_max_workers() -> int:
    """os.cpu_count() // 2, made safe: never 0, and only the CPUs we may use."""
    return max(1, usable_cpus() // 2)


def usable_cpus() -> int:
    """The CPUs this process may use: those its affinity allows (taskset, cpusets;
    os.process_cpu_count() on Python 3.13+, which PYTHON_CPU_COUNT overrides), and
    no more than a container's CPU quota (the cgroup limit that docker --cpus and
    Kubernetes CPU limits set, which os.cpu_count() does not see)."""
    if hasattr(os, "process_cpu_count"):
        if os.environ.get("PYTHON_CPU_COUNT"):  # the user's own word: final
            return os.process_cpu_count() or 1
        count = os.process_cpu_count() or 1
    elif hasattr(os, "sched_getaffinity"):
        count = len(os.sched_getaffinity(0))
    else:  # macOS and Windows have no affinity call
        count = os.cpu_count() or 1  # cpu_count() may return None
    quota = cgroup_cpu_quota()
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return count


def cgroup_cpu_quota(root: str = "/sys/fs/cgroup") -> float | None:
    """How many CPUs' worth of time the cgroup may use, if it is limited: cgroup v2
    cpu.max ("150000 100000" is 1.5 CPUs; "max 100000" is no limit), else cgroup
    v1 cpu.cfs_quota_us / cpu.cfs_period_us (-1: no limit). None elsewhere."""
    try:
        words = Path(root, "cpu.max").read_text().split()[:2]
    except OSError:
        try:
            words = [
                Path(root, "cpu", "cpu.cfs_quota_us").read_text(),
                Path(root, "cpu", "cpu.cfs_period_us").read_text(),
            ]
        except OSError:
            return None
    try:
        quota, period = int(words[0]), int(words[1])
    except (ValueError, IndexError):  # "max": no limit
        return None
    return quota / period if quota > 0 and period > 0 else None


def check_max_workers(max_workers) -> int:
    if max_workers is None:
        return default_max_workers()
    if isinstance(max_workers, bool) or not isinstance(max_workers, int):
        raise TypeError(f"max_workers must be a whole number, not {max_workers!r}")
    if max_workers < 1:
        raise ValueError(f"max_workers must be 1 or more, not {max_workers}")
    return max_workers
