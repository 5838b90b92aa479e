"""Fixtures for the state layer: a real redis-server per test, stores, a settable clock."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis

from proxy.state.base import Store
from proxy.state.keys import Keys
from proxy.state.memory import MemoryStore
from proxy.state.redis_store import RedisStore


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A redis-server process on a free loopback port, in a temp dir; no persistence unless
    ``appendonly`` (AOF in the temp dir, fsync'd every second, as deploy/compose.yaml runs)."""

    def __init__(self, workdir: Path, *, appendonly: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install -y redis-server)")
        self.binary, self.workdir, self.port = binary, workdir, _free_port()
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Starts on the same port each time; returns once it answers PING (and so has
        loaded its AOF: a loading server answers LOADING)."""
        aof = ["--appendonly", "yes", "--appendfsync", "everysec"] if self.appendonly else [
            "--appendonly", "no"]
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
             str(self.workdir), "--save", "", *aof, "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = self.client()
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:  # BusyLoadingError (LOADING) is one too
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        """A clean shutdown (SIGTERM): an AOF server writes what it holds before it exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def restart(self, *, clean: bool = False) -> None:
        """Killed (or, if ``clean``, stopped) and started again on the same port: every
        client socket to the old process is dead, and the client does not know yet."""
        if clean:
            self.stop()
        else:
            self.kill()
        self.start()

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True, socket_timeout=2)

    def dump(self) -> dict[str, str]:
        """Every key with a printable rendering of its value, to search for secrets."""
        client, found = self.client(), {}
        for key in client.scan_iter(count=1000):
            kind = str(client.type(key))
            value: object = {"string": client.get, "zset": lambda k: client.zrange(k, 0, -1),
                             "stream": lambda k: client.xrange(k)}[kind](key)
            found[key] = repr(value)
        return found


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


class Clock:
    """A settable clock (seconds); starts at real time so Redis TTLs stay sensible."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    @property
    def ms(self) -> int:
        return int(self.now * 1000)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Each contract test runs once on the memory store and once on a real Redis."""
    if request.param == "memory":
        yield MemoryStore()
        return
    server = RedisServer(tmp_path)
    server.start()
    redis_store = RedisStore(server.url, Keys("test"), timeout_s=2)
    try:
        yield redis_store
    finally:
        await redis_store.close()
        server.kill()
