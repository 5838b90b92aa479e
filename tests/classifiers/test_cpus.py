"""``threads: auto``: the CPUs this process may use, from its affinity and its cgroup's
quota (files written here as the kernel writes them)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from classifiers.base import ClassifierConfigError
from classifiers.cpus import available_cpus, cgroup_quota
from classifiers.options import settings_of
from classifiers.semantic.options import MAX_AUTO_THREADS, EncoderOptions, resolve_threads

AFFINITY = len(os.sched_getaffinity(0))


def v2(tmp_path: Path, text: str) -> Path:
    (tmp_path / "cpu.max").write_text(text + "\n")
    return tmp_path


def v1(tmp_path: Path, quota: str, period: str) -> Path:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(quota + "\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(period + "\n")
    return tmp_path


@pytest.mark.parametrize(("write", "quota"), [
    (lambda p: v2(p, "150000 100000"), 1.5),
    (lambda p: v2(p, "max 100000"), None),
    (lambda p: v1(p, "50000", "100000"), 0.5),
    (lambda p: v1(p, "-1", "100000"), None),
    (lambda p: p, None),  # no cgroup files at all
    (lambda p: v2(p, "garbage"), None),
])
def test_the_quota_is_read_from_cgroup_v2_or_v1(
        tmp_path: Path, write: Callable[[Path], Path], quota: float | None) -> None:
    assert cgroup_quota(write(tmp_path)) == quota


def test_a_quota_caps_the_count_rounded_up_and_never_below_one(tmp_path: Path) -> None:
    assert available_cpus(tmp_path) == AFFINITY  # no quota: the affinity's size
    assert available_cpus(v2(tmp_path, "50000 100000")) == 1  # half a CPU: still one
    assert available_cpus(v2(tmp_path, f"{AFFINITY * 100000 + 1} 100000")) == AFFINITY


def test_threads_auto_is_the_default_and_resolves_to_the_usable_cpus() -> None:
    options = settings_of(EncoderOptions, "enc", "heads", {})
    assert options.threads == "auto"
    assert resolve_threads("auto") == min(available_cpus(), MAX_AUTO_THREADS)
    assert resolve_threads(3) == 3


@pytest.mark.parametrize("value", [0, -1, "two", True, 1.5, None])
def test_threads_must_be_a_positive_whole_number_or_auto(value: object) -> None:
    with pytest.raises(ClassifierConfigError, match="threads: a whole number >= 1 or auto"):
        settings_of(EncoderOptions, "enc", "heads", {"threads": value})
