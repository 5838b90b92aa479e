"""The rendered pods start and stop as Kubernetes would run them: the proxy with the
ConfigMap's proxy.yaml, its args and its environment (Secret values taken from
secret.example.yaml, $(VAR) expanded as the kubelet does), and, for the replicated overlay,
Redis with the StatefulSet's own start script. Only addresses and paths change: free
loopback ports instead of 8080/8082/6379, temp dirs instead of /data and /run/redis. A pod
must become ready, and must exit 0 within terminationGracePeriodSeconds of a SIGTERM."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.support import KUBERNETES, REPO, find, render
from tests.support.ports import free_port

pytestmark = pytest.mark.slow


def example_secrets() -> dict[tuple[str, str], str]:
    docs = yaml.safe_load_all((KUBERNETES / "secret.example.yaml").read_text())
    return {(doc["metadata"]["name"], key): value
            for doc in docs for key, value in doc["stringData"].items()}


def pod_env(container: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet builds it: literal values with $(VAR)
    references to variables defined before them expanded, secretKeyRefs resolved."""
    secrets, env = example_secrets(), {}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m[1], m[0]),
                                      var["value"])
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = secrets[(ref["name"], ref["key"])]
    return env


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def wait_until(condition: Any, limit_s: float, what: str) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {limit_s} s"
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.fixture
def redis_from_statefulset(tmp_path: Path) -> Iterator[int]:
    """Redis started by the replicated overlay's StatefulSet script; yields its port."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (apt-get install -y redis-server)")
    statefulset = find(render("replicated"), "StatefulSet", "safety-proxy-redis")
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    port, run, data = free_port(), tmp_path / "run", tmp_path / "data"
    run.mkdir(), data.mkdir()
    script = (container["args"][0].replace("/run/redis", str(run)).replace("/data", str(data))
              .replace("--port 6379", f"--port {port}").replace("'* -::*'", "127.0.0.1"))
    env = {**os.environ, **pod_env(container)}
    process = subprocess.Popen([*container["command"], script], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def ping(auth: bool) -> str:
            cli_env = env if auth else {k: v for k, v in env.items() if k != "REDISCLI_AUTH"}
            done = subprocess.run(["redis-cli", "-p", str(port), "ping"], env=cli_env,
                                  capture_output=True, text=True, timeout=5, check=False)
            return done.stdout.strip()
        wait_until(lambda: ping(auth=True) == "PONG", 20, "redis from the StatefulSet script")
        assert "NOAUTH" in ping(auth=False)  # requirepass took effect
        aof = subprocess.run(["redis-cli", "-p", str(port), "config", "get", "appendonly"],
                             env=env, capture_output=True, text=True, timeout=5, check=False)
        assert aof.stdout.split() == ["appendonly", "yes"]
        assert oct((run / "redis.conf").stat().st_mode & 0o777) == "0o600"
        yield port
    finally:
        stop(process)


def start_proxy(overlay: str, tmp_path: Path, redis_port: int | None = None
                ) -> tuple[subprocess.Popen[bytes], str, dict[str, Any]]:
    objects = render(overlay)
    pod = find(objects, "Deployment", "safety-proxy")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    port, admin_port = free_port(), free_port()
    config = yaml.safe_load(find(objects, "ConfigMap")["data"]["proxy.yaml"])
    config["server"].update(host="127.0.0.1", port=port)
    config["admin"]["port"] = admin_port
    path = tmp_path / "proxy.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    env = {**os.environ, **pod_env(container),
           "SAFETY_PROXY_HOST": "127.0.0.1", "SAFETY_PROXY_PORT": str(port)}
    if redis_port is not None:
        env["SAFETY_PROXY_STORE_URL"] = env["SAFETY_PROXY_STORE_URL"].replace(
            "safety-proxy-redis:6379", f"127.0.0.1:{redis_port}")
    args = [arg.replace("/etc/safety-proxy/proxy.yaml", str(path)) for arg in container["args"]]
    with (tmp_path / "log").open("wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen([sys.executable, "-m", "proxy", *args], cwd=REPO, env=env,
                                   stdout=subprocess.DEVNULL, stderr=log)
    return process, f"http://127.0.0.1:{port}", pod


def run_and_stop(process: subprocess.Popen[bytes], base: str, pod: dict[str, Any],
                 tmp_path: Path, while_ready: Any = None) -> dict[str, Any]:
    try:
        wait_until(lambda: get(f"{base}/readyz")[0] == 200 or process.poll() is not None,
                   90, "readiness")
        assert process.poll() is None, (tmp_path / "log").read_text()[-3000:]
        assert get(f"{base}/healthz")[0] == 200
        status, metrics = get(f"{base}/metrics")
        assert status == 200 and "safety_proxy_" in metrics
        ready = json.loads(get(f"{base}/readyz")[1])
        if while_ready is not None:
            while_ready()
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        process.wait(timeout=pod["terminationGracePeriodSeconds"])
        assert process.returncode == 0, (tmp_path / "log").read_text()[-3000:]
        assert time.monotonic() - started < pod["terminationGracePeriodSeconds"]
        return ready
    finally:
        stop(process)


def test_single_overlay_pod_starts_ready_and_stops_in_its_grace_period(tmp_path: Path) -> None:
    ready = run_and_stop(*start_proxy("single", tmp_path), tmp_path)
    assert ready["status"] == "ready" and ready["store"] == "up"
    assert ready["checks"] == ["guard", "refusal"]


def test_replicated_overlay_pod_uses_the_statefulsets_redis(tmp_path: Path,
                                                            redis_from_statefulset: int) -> None:
    def proxy_is_connected() -> None:
        clients = subprocess.run(["redis-cli", "-p", str(redis_from_statefulset), "client",
                                  "list"], env={**os.environ, **example_auth()},
                                 capture_output=True, text=True, timeout=5, check=False)
        assert len(clients.stdout.splitlines()) >= 2, clients.stdout  # redis-cli + the proxy

    ready = run_and_stop(*start_proxy("replicated", tmp_path, redis_from_statefulset), tmp_path,
                         while_ready=proxy_is_connected)
    assert ready["status"] == "ready" and ready["store"] == "up"


def example_auth() -> dict[str, str]:
    return {"REDISCLI_AUTH": example_secrets()[("safety-proxy-redis", "password")]}
