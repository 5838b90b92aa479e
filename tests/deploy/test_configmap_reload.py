"""A ConfigMap mounted as a directory is updated the way the kubelet's atomic writer does
it: the files live in a hidden timestamped directory, ``..data`` is a symlink to it, and
``proxy.yaml`` is a symlink through ``..data``; an update writes a new directory and renames
a new ``..data`` symlink over the old one. The proxy's file watcher (os.stat follows the
symlinks, plus a hash of the content) must see that swap and reload: the manifests in
deploy/kubernetes rely on it (no subPath, no restart)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from proxy.config.loader import load_file
from proxy.config.reload import ConfigReloader
from proxy.config.snapshot import SnapshotHolder, build_snapshot
from proxy.observability.metrics import Metrics

CONFIG = """\
upstream:
  base_url: http://127.0.0.1:9/v1
policy:
  refusal_text: "{text}"
"""


def publish(mount: Path, generation: int, text: str) -> None:
    """The kubelet's AtomicWriter: a new ..<timestamp> directory, then ..data swapped."""
    version = mount / f"..2026_11_29_00_00_0{generation}.000000001"
    version.mkdir()
    (version / "proxy.yaml").write_text(CONFIG.format(text=text))
    old = os.readlink(mount / "..data") if (mount / "..data").is_symlink() else None
    if old is not None:  # same size and mtime as before: only the content tells
        os.utime(version / "proxy.yaml", ns=(os.stat(mount / old / "proxy.yaml").st_atime_ns,
                                             os.stat(mount / old / "proxy.yaml").st_mtime_ns))
    (mount / "..data_tmp").symlink_to(version.name)
    os.rename(mount / "..data_tmp", mount / "..data")
    if not (mount / "proxy.yaml").is_symlink():
        (mount / "proxy.yaml").symlink_to("..data/proxy.yaml")
    if old is not None:
        for file in (mount / old).iterdir():
            file.unlink()
        (mount / old).rmdir()


async def test_the_watcher_follows_a_configmap_symlink_swap(tmp_path: Path) -> None:
    publish(tmp_path, 1, "refused, version A")
    path = tmp_path / "proxy.yaml"
    holder = SnapshotHolder(await build_snapshot(load_file(path)))
    reloader = ConfigReloader(path, holder, Metrics())
    reloader.start(watch=True, interval_s=0.05)
    try:
        publish(tmp_path, 2, "refused, version B")
        for _ in range(200):
            if holder.current.loaded.config.policy.refusal_text.endswith("B"):
                break
            await asyncio.sleep(0.05)
        assert holder.current.loaded.config.policy.refusal_text == "refused, version B"
    finally:
        await reloader.stop()
