"""Hot reload: on SIGHUP and when the config file changes, build a new snapshot aside and
swap it in; on any error keep the running snapshot, log why, and count the failure.

Every reload reads the file afresh, environment interpolation included. Settings read only
at start (proxy/config/restart.py) keep their running values, with a warning and
``safety_proxy_config_restart_required``. A file equal to the one running (a revert after a
failed edit) swaps nothing but counts as a successful reload for the success gauge.

The file is polled (size, mtime, then content hash) every ``reload.interval_s``: it works
on every filesystem, including Kubernetes ConfigMap mounts that swap a symlink.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
from collections.abc import Callable
from pathlib import Path

import structlog

from classifiers.tasks import spawn
from proxy.config.loader import ConfigError, load_file
from proxy.config.restart import keep_restart_only
from proxy.config.snapshot import Snapshot, SnapshotHolder, build_snapshot, declare_series
from proxy.observability.metrics import Metrics

log = structlog.get_logger("safety_proxy.config")


class ConfigReloader:
    def __init__(self, path: Path, holder: SnapshotHolder, metrics: Metrics,
                 on_swap: Callable[[Snapshot], None] | None = None) -> None:
        self.path = path
        self.holder = holder
        self.metrics = metrics
        self.on_swap = on_swap  # told of every new snapshot (settings that live elsewhere)
        self._lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None
        self._stat = self._file_stat()
        self._last_failed = False

    async def reload(self) -> bool:
        """True when a new snapshot is in place; False when the running one was kept: after
        an error, or because the file holds what already runs."""
        async with self._lock:
            running = self.holder.current.loaded
            try:
                loaded = load_file(self.path)
                if loaded.sha256 == running.sha256:
                    return self._unchanged()
                snapshot = await build_snapshot(keep_restart_only(loaded, running))
            except ConfigError as exc:
                return self._failed(str(exc))
            except Exception as exc:  # a classifier that fails to start in an unexpected way
                return self._failed(f"{self.path}: {type(exc).__name__}: {exc}")
            self._swap(snapshot)
            return True

    def _swap(self, snapshot: Snapshot) -> None:
        self.holder.swap(snapshot)
        if self.on_swap is not None:
            self.on_swap(snapshot)
        self.metrics.config_reloads.labels("success").inc()
        self._last_failed = False
        self.metrics.config_last_reload_ok.set(1)
        declare_series(self.metrics, snapshot)
        loaded = snapshot.loaded
        log.info("config_reloaded", path=str(self.path), sha256=loaded.sha256[:12],
                 running_sha256=loaded.running_sha256[:12])
        if loaded.restart_pending:
            log.warning("config_restart_required", path=str(self.path),
                        settings=list(loaded.restart_pending),
                        detail="these settings change only at a restart: they keep their "
                               "running values until then; every other change is applied")

    def _unchanged(self) -> bool:
        """The file holds the running config (saved again, or restored after a failed edit):
        nothing to swap, and the last reload is a success again."""
        if self._last_failed:
            log.info("config_restored", path=str(self.path),
                     sha256=self.holder.current.loaded.sha256[:12])
        self._last_failed = False
        self.metrics.config_last_reload_ok.set(1)
        return False

    def _failed(self, message: str) -> bool:
        self._last_failed = True
        self.metrics.config_reloads.labels("failure").inc()
        self.metrics.config_last_reload_ok.set(0)
        log.error("config_reload_failed", path=str(self.path), error=message,
                  kept_sha256=self.holder.current.loaded.running_sha256[:12])
        return False

    def start(self, watch: bool, interval_s: float) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        if watch:
            self._watcher = spawn(self._watch(interval_s), name="config-watcher")

    def _on_sighup(self) -> None:
        spawn(self.reload(), name="config-reload-sighup")

    async def stop(self) -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher

    async def _watch(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            stat = self._file_stat()
            if stat != self._stat:
                self._stat = stat
                await self.reload()

    def _file_stat(self) -> tuple[int, int, str] | None:
        try:
            info = os.stat(self.path)
            digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return None
        return (info.st_size, info.st_mtime_ns, digest)
