"""Local servers for the benchmarks, on 127.0.0.1: a free port, a throwaway redis-server.

The test suite has its own (tests/support): a benchmark runs without the tests' fixtures
and must not import them.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis


def free_port() -> int:
    """A loopback port nothing listens on now (the OS picks it; another process could take
    it before the caller binds it, which on a benchmark machine does not happen)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def redis_server(start_timeout_s: float = 10) -> Iterator[str]:
    """A redis-server without persistence on a free port, in a temp dir; yields its URL
    once it answers PING; killed on exit."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install -y redis-server)")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with tempfile.TemporaryDirectory() as folder:
        process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1",
                                    "--dir", folder, "--save", "", "--appendonly", "no"],
                                   stdout=subprocess.DEVNULL)
        try:
            _wait_for_ping(url, process, start_timeout_s)
            yield url
        finally:
            process.kill()
            process.wait()


def _wait_for_ping(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with redis.Redis.from_url(url, socket_timeout=1) as client:
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:  # not listening yet, or LOADING
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("redis-server did not start") from None
                time.sleep(0.02)
