"""A real redis-server on a free loopback port (or a real three-node Redis Cluster), in a
temp dir: started, killed, restarted and inspected by the tests. The fixtures that hand
them out are in tests/conftest.py (``redis_server``) and tests/proxy/state/conftest.py (the
cluster)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.support.ports import free_cluster_port, free_port

FIRST_START_TRIES = 3


class RedisServer:
    """A redis-server process on a free loopback port, in a temp dir; no persistence unless
    ``appendonly`` (AOF in the temp dir, fsync'd every second, as deploy/compose.yaml runs)."""

    def __init__(self, workdir: Path, *, appendonly: bool = False,
                 cluster: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install -y redis-server)")
        self.binary, self.workdir = binary, workdir
        self.port = free_cluster_port() if cluster else free_port()
        self.appendonly, self.cluster = appendonly, cluster
        self.process: subprocess.Popen[bytes] | None = None
        self.started = False  # once it has run, it restarts on its port or not at all

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Starts on the same port each time; returns once it answers PING (and so has
        loaded its AOF: a loading server answers LOADING). The first start only may move
        to another free port: the one chosen (or a cluster node's bus port) can be taken,
        between choosing and binding, as the local port of any outgoing connection."""
        for attempt in range(FIRST_START_TRIES if not self.started else 1):
            if attempt:
                self.port = free_cluster_port() if self.cluster else free_port()
            if self._start_once():
                self.started = True
                return
        log = self._log_path().read_text(errors="replace")[-1500:]
        raise RuntimeError(f"redis-server did not start on port {self.port}:\n{log}")

    def _start_once(self) -> bool:
        """True once the server answers; False if it exited first (a port in use)."""
        aof = ["--appendonly", "yes", "--appendfsync", "everysec"] if self.appendonly else [
            "--appendonly", "no"]
        # A cluster node keeps its identity and slots in its nodes file: a restart rejoins.
        cluster = ["--cluster-enabled", "yes", "--cluster-config-file",
                   str(self.workdir / f"nodes-{self.port}.conf")] if self.cluster else []
        with self._log_path().open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
                 str(self.workdir), "--save", "", *aof, *cluster, "--daemonize", "no"],
                stdout=log, stderr=subprocess.STDOUT)
        client = self.client()
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return True
                except (redis.ConnectionError, redis.TimeoutError):  # LOADING is one too
                    if self.process.poll() is not None:
                        return False
                    if time.monotonic() > deadline:
                        self.kill()
                        return False
                    time.sleep(0.02)
        finally:
            client.close()

    def _log_path(self) -> Path:
        return self.workdir / f"redis-{self.port}.log"

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

    def cluster_ok(self) -> bool:
        try:
            return "cluster_state:ok" in str(self.client().execute_command("CLUSTER", "INFO"))
        except redis.RedisError:
            return False

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


class RedisCluster:
    """Three ``redis-server --cluster-enabled yes`` primaries on free loopback ports, in a
    temp dir, joined by ``redis-cli --cluster create`` (no replicas): every hash slot is
    served, about a third by each node. ``start`` returns once every node reports
    ``cluster_state:ok`` (polled, with a deadline)."""

    def __init__(self, workdir: Path, nodes: int = 3) -> None:
        cli = shutil.which("redis-cli")
        if cli is None:
            pytest.fail("redis-cli is not installed (apt-get install -y redis-server)")
        self.cli, self.workdir = cli, workdir
        self.servers = [RedisServer(workdir, cluster=True) for _ in range(nodes)]

    @property
    def url(self) -> str:
        """One node's URL: the client discovers the others from it."""
        return self.servers[0].url

    def start(self) -> None:
        for server in self.servers:
            server.start()
        subprocess.run([self.cli, "--cluster", "create",
                        *(f"127.0.0.1:{server.port}" for server in self.servers),
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, capture_output=True, timeout=30)
        self.wait_ok()

    def wait_ok(self, timeout_s: float = 20) -> None:
        """Returns once every node says cluster_state:ok (slots assigned, nodes agreed)."""
        deadline = time.monotonic() + timeout_s
        while not all(server.cluster_ok() for server in self.servers):
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.05)

    def kill(self) -> None:
        for server in self.servers:
            server.kill()

    def flush(self) -> None:
        """Forgets every key (scripts stay loaded): a clean cluster for the next test."""
        for server in self.servers:
            server.client().flushall()
