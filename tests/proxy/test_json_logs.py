"""With ``logging.format: json`` every line ``safety-proxy serve`` writes is one JSON object:
its own events, the libraries' records, exceptions (a field, never a traceback), start-up
failures (one ``startup_failed`` line and a documented exit status), and no request bytes
or header values in any of them."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog

from proxy.commands.serve import EXIT_CANNOT_LISTEN, EXIT_FAILED, listen_address
from proxy.config.loader import ConfigError
from proxy.config.schema import LoggingConfig, ServerConfig
from proxy.observability.logging import configure_logging
from tests.proxy.observability.test_logging import logged
from tests.proxy.serve_process import ServeProcess, json_config, start_serve
from tests.proxy.state.helpers import eventually
from tests.support.upstream import FakeUpstream, Stream, sse_chunks

CANARY = "sk-proj-canaryJSONlogs0123456789abcdef"


async def raw_exchange(base: str, data: bytes) -> bytes:
    """Sends ``data`` on a new connection; what comes back before the server closes."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    return answer


async def reset_mid_stream(base: str) -> None:
    """Starts a streamed request and resets the connection (RST) once bytes came back."""
    host, port = base.removeprefix("http://").split(":")
    body = (b'{"model": "m", "stream": true, "messages": [{"role": "user", '
            b'"content": "stream please"}]}')
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                 b"Authorization: Bearer " + CANARY.encode() + b"\r\n"
                 b"Content-Type: application/json\r\nContent-Length: "
                 + str(len(body)).encode() + b"\r\n\r\n" + body)
    await asyncio.wait_for(reader.read(1), 30)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    writer.transport.abort()


def assert_all_json(served: ServeProcess) -> list[dict[str, Any]]:
    """Every stdout and stderr line parses as JSON; no line is a traceback's."""
    lines = served.log_lines()  # raises on a line that is not JSON
    assert served.stdout.read_text() == ""
    text = served.stderr.read_text()
    assert CANARY not in text
    assert all(not line.startswith(("Traceback", " ")) for line in text.splitlines())
    return lines


def upstream_answer(body: dict[str, Any]) -> Any:
    return Stream(sse_chunks([f"w{n} " for n in range(200)]), delay_s=0.05)


@pytest.mark.slow
async def test_every_line_is_json_through_bad_requests_failures_and_shutdown(
        tmp_path: Path, serve_app) -> None:
    upstream = await serve_app(FakeUpstream(answer=upstream_answer).app())
    config = json_config(upstream, server={"drain_s": 0})
    broken = {"name": "broken", "type": "scripted", "timeout_s": 1.0, "on_error": "fail_open",
              "options": {"labels": ["bad"], "fail": "raise"}}
    config["checks"].append(broken)
    served = await start_serve(tmp_path, config)
    try:
        garbage = await raw_exchange(served.base, b"\x16\x03\x01 GARBAGE " + CANARY.encode()
                                     + b"\r\n\r\n")
        assert garbage.startswith(b"HTTP/1.0 400 ") and CANARY.encode() not in garbage
        bad_header = await raw_exchange(
            served.base, b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Key " + CANARY.encode()
            + b"\r\n\r\n")
        assert bad_header.startswith(b"HTTP/1.0 400 ") and CANARY.encode() not in bad_header
        await reset_mid_stream(served.base)  # a failing check, a client gone mid-stream
        await eventually(lambda: served.events("check_failed"), 30, "the broken check never ran")
        async with aiohttp.ClientSession() as session, session.get(
                f"{served.base}/v1/models", headers={"Authorization": f"Bearer {CANARY}"}):
            pass
        served.signal(signal.SIGTERM)
        assert await served.exit_code() == 0
    finally:
        await served.stop()
    lines = assert_all_json(served)
    events = [line["event"] for line in lines]
    assert {"listening", "ready", "bad_http_request", "check_failed", "shutdown_started",
            "drain_finished", "shutdown_complete"} <= set(events)
    (listening,) = served.events("listening")
    assert listening["url"] == served.base and listening["config"].endswith("proxy.yaml")


@pytest.mark.slow
async def test_a_port_in_use_is_one_startup_failed_line_and_exit_3(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        served = await start_serve(tmp_path, json_config("http://127.0.0.1:1"), port=port,
                                   wait_ready=False)
        try:
            assert await served.exit_code() == EXIT_CANNOT_LISTEN
        finally:
            await served.stop()
    assert_all_json(served)
    (failed,) = served.events("startup_failed")
    assert failed == {**failed, "error": "address already in use", "host": "127.0.0.1",
                      "port": port, "level": "error"}


@pytest.mark.slow
async def test_a_bad_config_is_one_startup_failed_line_and_exit_1(tmp_path: Path) -> None:
    config = json_config("http://127.0.0.1:1", server={"drain_s": -1})
    served = await start_serve(tmp_path, config, wait_ready=False)
    try:
        assert await served.exit_code() == EXIT_FAILED
    finally:
        await served.stop()
    (line,) = assert_all_json(served)  # before the config, JSON: stderr is not a terminal
    assert line["event"] == "startup_failed"
    assert "server.drain_s: Input should be greater than or equal to 0" in line["error"]


@pytest.mark.slow
async def test_a_bad_port_in_the_environment_is_a_config_error(tmp_path: Path) -> None:
    served = await start_serve(tmp_path, json_config("http://127.0.0.1:1"), wait_ready=False,
                               env={"SAFETY_PROXY_PORT": "80a"}, port_flag=False)
    try:
        assert await served.exit_code() == EXIT_FAILED
    finally:
        await served.stop()
    assert_all_json(served)
    (failed,) = served.events("startup_failed")
    assert failed["error"] == "SAFETY_PROXY_PORT='80a': not a port number (0-65535)"


@pytest.mark.parametrize(("flags", "environ", "expected"), [
    ({}, {}, ("127.0.0.1", 8080)),
    ({}, {"SAFETY_PROXY_HOST": "0.0.0.0", "SAFETY_PROXY_PORT": "9000"}, ("0.0.0.0", 9000)),
    ({"host": "::1", "port": 7000}, {"SAFETY_PROXY_HOST": "0.0.0.0",
                                     "SAFETY_PROXY_PORT": "9000"}, ("::1", 7000)),
    ({"port": 0}, {"SAFETY_PROXY_PORT": "9000"}, ("127.0.0.1", 0)),
    ({}, {"SAFETY_PROXY_HOST": "", "SAFETY_PROXY_PORT": " "}, ("127.0.0.1", 8080)),
])
def test_the_listen_address_is_the_flag_else_the_environment_else_the_config(
        flags: dict[str, Any], environ: dict[str, str], expected: tuple[str, int]) -> None:
    args = argparse.Namespace(**{"host": None, "port": None, **flags})
    assert listen_address(args, ServerConfig.model_validate({}), environ) == expected


@pytest.mark.parametrize("value", ["80a", "-1", "65536", "1e3"])
def test_an_environment_port_that_is_not_one_is_a_config_error(value: str) -> None:
    args = argparse.Namespace(host=None, port=None)
    with pytest.raises(ConfigError, match=r"SAFETY_PROXY_PORT=.*not a port number"):
        listen_address(args, ServerConfig.model_validate({}), {"SAFETY_PROXY_PORT": value})


@pytest.fixture
def restore_logging() -> Iterator[None]:
    saved, root = structlog.get_config(), logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_a_python_warning_is_one_json_line(capsys) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        configure_logging(LoggingConfig(format="json"))  # inside: the filter's showwarning
        warnings.warn(f"deprecated, see '{CANARY}'", DeprecationWarning, stacklevel=1)
    err, lines = logged(capsys)
    assert CANARY not in err
    (line,) = lines
    assert line == {**line, "event": "python_warning", "category": "DeprecationWarning",
                    "detail": "deprecated, see", "level": "warning"}
    assert line["location"].startswith(__file__)
