"""How many CPUs this process may use: the one answer for every ``threads: auto``.

``os.cpu_count()`` is the host's count; a container sees its own limits only in its CPU
affinity (cpusets) and in its cgroup's CPU quota (Kubernetes ``resources.limits.cpu``).
Threads past the quota do not run faster, they get throttled, so the answer is the smaller
of the two: the affinity's size, and the quota rounded up (``cpu.max`` in cgroup v2,
``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` in v1). No limit found: the affinity's size.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def available_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """CPUs this process may run on at once (at least 1)."""
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        allowed = os.cpu_count() or 1
    quota = cgroup_quota(cgroup_root)
    return max(1, min(allowed, math.ceil(quota)) if quota is not None else allowed)


def cgroup_quota(root: Path = CGROUP_ROOT) -> float | None:
    """The cgroup's CPU quota in CPUs (1.5 for "150000 100000"), or None: no quota, or no
    cgroup file to read."""
    try:
        fields = (root / "cpu.max").read_text().split()  # v2: "<quota|max> <period>"
        quota, period = fields[0], fields[1]
    except (OSError, IndexError):
        try:  # v1: quota -1 means none
            quota = (root / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (root / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    try:
        if quota == "max" or int(quota) <= 0 or int(period) <= 0:
            return None
        return int(quota) / int(period)
    except ValueError:
        return None
