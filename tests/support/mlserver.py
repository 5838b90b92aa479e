"""A real MLServer (``mlserver start DIR``) serving our runtime on free loopback ports.

:func:`mlserver_serving` writes the server's settings.json (REST and gRPC on free ports;
metrics off; models loaded in the server's process: no worker pool) and one folder per model with
its model-settings.json (classifiers/remote/mlserver_runtime.py, ``extra`` as given), starts
the server, returns once every model answers ready (polled, no fixed sleep), and stops it
with SIGTERM (SIGKILL if it hangs) at the end of the block. Its log is in DIR/mlserver.log,
quoted when it fails to start.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.ports import free_port

RUNTIME = "classifiers.remote.mlserver_runtime.SequenceRuntime"
START_TIMEOUT_S = 90.0  # torch and our model load on 2 shared cores


def write_model_folder(root: Path, name: str, extra: Mapping[str, Any]) -> Path:
    """``root/name/model-settings.json`` for our runtime; returns the folder."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    settings = {"name": name, "implementation": RUNTIME, "parameters": {"extra": dict(extra)}}
    (folder / "model-settings.json").write_text(json.dumps(settings, indent=2))
    return folder


@contextmanager
def mlserver_serving(root: Path, models: Mapping[str, Mapping[str, Any]]) -> Iterator[str]:
    """``with mlserver_serving(dir, {name: extra}) as url``: the server runs inside."""
    root.mkdir(parents=True, exist_ok=True)
    for name, extra in models.items():
        write_model_folder(root, name, extra)
    port = free_port()
    (root / "settings.json").write_text(json.dumps({
        "host": "127.0.0.1", "http_port": port, "grpc_port": free_port(),
        "metrics_endpoint": None, "parallel_workers": 0, "debug": False,
        "metrics_dir": str(root / ".metrics"), "environments_dir": str(root / ".envs")}))
    log_path = root / "mlserver.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([str(Path(sys.executable).parent / "mlserver"), "start",
                                    str(root)], stdout=log, stderr=subprocess.STDOUT,
                                   cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, url, list(models), log_path)
        yield url
    finally:
        _stop(process)


def _wait_ready(process: subprocess.Popen[bytes], url: str, models: list[str],
                log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    paths = ["/v2/health/ready", *(f"/v2/models/{name}/ready" for name in models)]
    while paths:
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"mlserver did not start (exit {process.returncode}):\n{tail}")
        if _answers(url + paths[0]):
            paths.pop(0)
        else:
            time.sleep(0.05)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
