"""``safety-proxy serve`` as a real subprocess, for the tests that signal it and read its log:
its stderr goes to a file (read it while it runs), every line of which must be JSON."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import proxy_config, write_config
from tests.proxy.state.helpers import eventually
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
# The real command line, with the test classifier (type: scripted) registered.
LAUNCH = "import sys, tests.support.scripted; from proxy.cli import main; sys.exit(main())"
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
for name in ("SAFETY_PROXY_HOST", "SAFETY_PROXY_PORT"):
    ENV.pop(name, None)


@dataclass
class ServeProcess:
    process: asyncio.subprocess.Process
    base: str
    stderr: Path
    stdout: Path

    def log_lines(self) -> list[dict[str, Any]]:
        """The stderr so far, each line parsed: fails on a line that is not JSON."""
        return [json.loads(line) for line in self.stderr.read_text().splitlines()]

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.log_lines() if line.get("event") == name]

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    async def exit_code(self, limit_s: float = 60) -> int:
        return await asyncio.wait_for(self.process.wait(), limit_s)

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


def json_config(upstream: str, **sections: Any) -> dict[str, Any]:
    """proxy_config with JSON logs (every line JSON, whatever stderr is)."""
    return proxy_config(upstream, **{"logging": {"level": "info", "format": "json"},
                                     **sections})


async def start_serve(tmp_path: Path, config: dict[str, Any], *args: str,
                      env: dict[str, str] | None = None, port: int | None = None,
                      port_flag: bool = True, wait_ready: bool = True) -> ServeProcess:
    """Starts ``serve --config`` on ``port`` (a free one by default; ``--port`` unless not
    ``port_flag``); with ``wait_ready``, returns once its /readyz answers 200."""
    port = free_port() if port is None else port
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = write_config(tmp_path / "proxy.yaml", config)
    stderr, stdout = tmp_path / "serve.stderr", tmp_path / "serve.stdout"
    flags = ["--port", str(port)] if port_flag else []
    # The child keeps its own descriptors of both files; ours close at once.
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", LAUNCH, "serve", "--config", str(path), *flags, *args,
            cwd=ROOT, env={**ENV, **(env or {})}, stdout=out, stderr=err)
    served = ServeProcess(process, f"http://127.0.0.1:{port}", stderr, stdout)
    if wait_ready:
        await eventually(lambda: _ready(served), 60, f"serve not ready:\n{_tail(stderr)}")
    return served


async def _ready(served: ServeProcess) -> bool:
    assert served.process.returncode is None, f"serve exited:\n{_tail(served.stderr)}"
    try:
        async with aiohttp.ClientSession() as session, \
                session.get(f"{served.base}/readyz") as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


def _tail(path: Path) -> str:
    return path.read_text()[-4000:] if path.exists() else ""
