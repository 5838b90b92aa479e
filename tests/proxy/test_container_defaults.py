"""The container image's listen address and health check (deploy/Dockerfile), without
Docker: the image's environment makes ``serve`` listen on all interfaces whatever the
config says, and its HEALTHCHECK line, run as written, fails when only loopback can reach
the proxy."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sys
from pathlib import Path

import pytest

from tests.proxy.serve_process import ENV, ServeProcess, json_config, start_serve
from tests.support.ports import free_port

DOCKERFILE = (Path(__file__).resolve().parents[2] / "deploy/Dockerfile").read_text()


def image_env() -> dict[str, str]:
    """The ENV pairs the Dockerfile's last stage sets."""
    runtime = DOCKERFILE.split("AS runtime", 1)[1]
    pairs: dict[str, str] = {}
    for block in re.findall(r"^ENV ((?:.*\\\n)*.*)$", runtime, re.M):
        pairs.update(re.findall(r"(\w+)=(\S+)", block.replace("\\\n", " ")))
    return pairs


def health_check_code() -> str:
    """The Python the HEALTHCHECK runs (``CMD ["python", "-c", CODE]``)."""
    (line,) = re.findall(r"^HEALTHCHECK (?:.*\\\n)*.*$", DOCKERFILE, re.M)
    command = json.loads(line.split(" CMD ", 1)[1])
    assert command[:2] == ["python", "-c"]
    code: str = command[2]
    return code


def own_address() -> str:
    """This machine's non-loopback IPv4 address (the one its default route leaves from; no
    packet is sent), as a container's hostname resolves to its own; skips without one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only the route is looked up
        except OSError as exc:
            pytest.skip(f"this machine has no non-loopback IPv4 route ({exc})")
        address: str = probe.getsockname()[0]
    if address.startswith("127.") or address == "0.0.0.0":
        pytest.skip("this machine has no non-loopback IPv4 address")
    return address


async def health_check(port: int, address: str) -> int:
    """Runs the HEALTHCHECK's code as the image would (its env), at ``address``."""
    env = {**ENV, "SAFETY_PROXY_PORT": str(port)}
    if socket.gethostbyname(socket.gethostname()) != address:  # as in a container
        env["HEALTHCHECK_HOST"] = address
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", health_check_code(), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    return await asyncio.wait_for(process.wait(), 60)


def test_the_image_listens_on_all_interfaces_and_probes_its_own_address() -> None:
    env = image_env()
    assert (env["SAFETY_PROXY_HOST"], env["SAFETY_PROXY_PORT"]) == ("0.0.0.0", "8080")
    assert "EXPOSE 8080" in DOCKERFILE
    code = health_check_code()
    assert "127.0.0.1" not in code and "localhost" not in code
    assert "socket.gethostbyname(socket.gethostname())" in code and "/healthz" in code


@pytest.mark.slow
async def test_the_health_check_fails_on_loopback_only_and_passes_on_all_interfaces(
        tmp_path: Path) -> None:
    address, image = own_address(), image_env()
    config = json_config("http://127.0.0.1:1")  # server.host: the default, 127.0.0.1
    started: list[ServeProcess] = []
    try:
        loopback_port, image_port = free_port(), free_port()
        started.append(await start_serve(tmp_path / "loopback", config, port=loopback_port))
        started.append(await start_serve(
            tmp_path / "image", config, port=image_port, port_flag=False,
            env={"SAFETY_PROXY_HOST": image["SAFETY_PROXY_HOST"],
                 "SAFETY_PROXY_PORT": str(image_port)}))
        assert await health_check(loopback_port, address) != 0
        assert await health_check(image_port, address) == 0
    finally:
        for served in started:
            await served.stop()
    listening = started[1].events("listening")[0]
    assert (listening["host"], listening["port"]) == ("0.0.0.0", image_port)
