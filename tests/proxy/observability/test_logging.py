"""One JSON log line per request, with no API key and no prompt unless the config says so."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import structlog
import yaml
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong

from proxy.config.schema import LoggingConfig
from proxy.observability.logging import configure_logging
from tests.proxy.commands.test_cli import ENV, wait_ready
from tests.support.ports import free_port

CLIENT_KEY = "sk-client-secret-4242"
UPSTREAM_KEY = "sk-upstream-secret-9999"
PROMPT = "my very private prompt about zebras"
# The fast preset: its word-level check blocks the insult below, and it starts in a blink.
FAST = Path(__file__).resolve().parents[3] / "proxy/config/fast.yaml"


def run_proxy_and_log(tmp_path: Path, text_mode: str) -> list[dict]:
    """Every JSON line the proxy wrote for three requests: allowed, blocked, and one the
    stopped upstream fails."""
    upstream_port, port = free_port(), free_port()
    config = yaml.safe_load(FAST.read_text())
    config["upstream"] = {"base_url": f"http://127.0.0.1:{upstream_port}/v1",
                          "api_key_env": "SP_TEST_UPSTREAM_KEY"}
    config["logging"] = {"format": "json", "text": text_mode}
    # the injected upstream key serves any client: an explicit choice (proxy/config/auth.py)
    config["auth"] = {"mode": "none", "allow_open_relay": True}
    path = tmp_path / f"proxy-{text_mode}.yaml"
    path.write_text(yaml.safe_dump(config))
    upstream = subprocess.Popen([sys.executable, "-m", "proxy", "demo-upstream", "--port",
                                 str(upstream_port)], env=ENV, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, text=True)
    proxy = subprocess.Popen([sys.executable, "-m", "proxy", "serve", "--config", str(path),
                              "--port", str(port)], env={**ENV, "SP_TEST_UPSTREAM_KEY":
                                                         UPSTREAM_KEY},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(f"http://127.0.0.1:{upstream_port}/v1/models", upstream)
        wait_ready(f"http://127.0.0.1:{port}/readyz", proxy)
        headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
        for content in (PROMPT, "you stupid fucking idiot"):
            httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", headers=headers,
                       json={"model": "m", "messages": [{"role": "user", "content": content}]})
        upstream.terminate()
        upstream.wait(timeout=10)
        failed = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", headers=headers,
                            json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
        assert failed.status_code == 502 and UPSTREAM_KEY not in failed.text
    finally:
        proxy.terminate()
        _, stderr = proxy.communicate(timeout=10)
        upstream.kill()
    assert CLIENT_KEY not in stderr and UPSTREAM_KEY not in stderr
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def request_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line.get("event") == "request"]


def test_request_lines_carry_decisions_but_no_secrets_or_text(tmp_path):
    every_line = run_proxy_and_log(tmp_path, "off")
    lines = request_lines(every_line)
    assert [line["decision"] for line in lines] == ["allow", "block", "allow"]
    assert lines[1]["reasons"][0]["classifier"] == "toxicity"
    assert lines[2]["error"] == "upstream_unreachable"
    assert all(line["request_id"] and "duration_ms" in line for line in lines)
    assert not any(PROMPT in json.dumps(line) for line in lines)
    # a line logged while a request runs names it; lines outside any request name none
    unreachable = [line for line in every_line if line.get("event") == "upstream_unreachable"]
    assert [line["request_id"] for line in unreachable] == [lines[2]["request_id"]]
    listening = [line for line in every_line if line.get("event") == "listening"]
    assert listening and all("request_id" not in line for line in listening)


def test_text_is_logged_only_when_configured(tmp_path):
    lines = request_lines(run_proxy_and_log(tmp_path, "full"))
    assert lines[0]["texts"]["input"] == [PROMPT]


# The log hygiene contract (proxy/observability/logging.py), in process.

CANARY = "sk-proj-canaryLOGGINGcontract0123456789abcdef"


@pytest.fixture
def json_logs() -> Iterator[Callable[[str], None]]:
    """configure_logging(level), in JSON on the stderr capsys captures (read it with
    ``logged``); restores structlog's and the root logger's set-up after the test."""
    saved, root = structlog.get_config(), logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def configure(level: str) -> None:
        configure_logging(LoggingConfig(level=level, format="json"))  # type: ignore[arg-type]

    yield configure
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


def logged(capsys) -> tuple[str, list[dict]]:
    """(stderr so far, its lines as dicts): every line must be JSON."""
    err = capsys.readouterr().err
    return err, [json.loads(line) for line in err.splitlines()]


def raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_exceptions_are_logged_as_their_type_and_frames(json_logs, capsys) -> None:
    json_logs("info")
    log = structlog.get_logger("test")
    try:
        raise BadHttpMessage(f"Authorization: Bearer {CANARY}")
    except BadHttpMessage:
        log.exception("unhandled_error", status=500)
    logging.getLogger("aiohttp.server").exception(
        "Error handling request from %s", f"peer {CANARY}",
        exc_info=raised(LineTooLong(f"x-api-key: {CANARY}".encode(), 10)))
    err, lines = logged(capsys)
    assert CANARY not in err
    assert lines[0]["exc_type"] == "aiohttp.http_exceptions.BadHttpMessage"
    assert "test_logging.py" in lines[0]["stack"] and lines[0]["level"] == "error"
    assert lines[1]["event"] == "Error handling request from %s", "arguments never rendered"
    assert lines[1]["exc_type"] == "aiohttp.http_exceptions.LineTooLong"
    assert lines[1]["logger"] == "aiohttp.server"


def test_library_messages_keep_their_prose_not_their_reprs(json_logs, capsys) -> None:
    json_logs("info")
    asyncio_log = logging.getLogger("asyncio")
    asyncio_log.error(f"Exception in callback Proto.data_received(b'Bearer {CANARY}')")
    asyncio_log.error(f"Task exception was never retrieved\nfuture: <Task exception="
                      f"BadHttpMessage('{CANARY}')>")
    logging.getLogger("aiohttp.web").warning(f"handler returned {CANARY!r}")
    logging.getLogger("aiohttp.server").info("below warning: not shown at info")
    err, lines = logged(capsys)
    assert CANARY not in err
    assert [line["event"] for line in lines] == [
        "Exception in callback Proto.data_received", "Task exception was never retrieved",
        "handler returned"]


def test_library_debug_lines_follow_a_debug_config(json_logs, capsys) -> None:
    json_logs("debug")
    logging.getLogger("aiohttp.server").debug("Ignored premature client disconnection")
    _, lines = logged(capsys)
    assert [line["event"] for line in lines] == ["Ignored premature client disconnection"]


def test_a_task_exception_never_retrieved_is_logged_without_its_message(json_logs,
                                                                        capsys) -> None:
    gc.collect()  # earlier tests' abandoned tasks report themselves before the capture
    json_logs("info")

    async def fail() -> None:
        raise BadHttpMessage(f"Authorization: Bearer {CANARY}")

    async def abandon() -> None:
        task = asyncio.get_running_loop().create_task(fail())
        await asyncio.wait([task])
        del task
        gc.collect()  # the task's __del__ reports it to the loop's exception handler

    asyncio.run(abandon())
    err, lines = logged(capsys)
    assert CANARY not in err
    assert ("Task exception was never retrieved", "aiohttp.http_exceptions.BadHttpMessage") in [
        (line["event"], line.get("exc_type")) for line in lines]


def test_a_request_path_logger_follows_every_configuration(json_logs, capsys) -> None:
    """BoundOnce binds once per structlog configuration: a new level, and structlog's
    capture_logs (which swaps the processors in place), take effect at the next line."""
    from structlog.testing import capture_logs

    from proxy.observability.logging import BoundOnce

    log = BoundOnce("safety_proxy.test")
    json_logs("info")
    log.get().info("request", n=1)
    json_logs("warning")
    log.get().info("request", n=2)
    log.get().warning("late", n=3)
    with capture_logs() as captured:
        log.get().warning("captured", n=4)
    json_logs("info")
    log.get().info("request", n=5)
    _, lines = logged(capsys)
    assert [(line["event"], line["n"]) for line in lines] == [
        ("request", 1), ("late", 3), ("request", 5)]
    assert [(entry["event"], entry["n"]) for entry in captured] == [("captured", 4)]


def test_json_lines_keep_any_value_structlog_could_write(json_logs, capsys) -> None:
    """orjson renders the lines; what it refuses (an integer past 64 bits) falls back to
    json.dumps, and an unknown object is written as structlog writes it (its repr)."""
    json_logs("info")
    values = {"text": "naïve 日本 \n\"q\"", "keys": {1: "one"}, "thing": Path("/x")}
    structlog.get_logger("t").info("orjson", **values)
    structlog.get_logger("t").info("json", big=2**70, **values)
    err, lines = logged(capsys)
    assert len(err.splitlines()) == 2  # a newline inside a value is escaped
    assert "naïve 日本" in err.splitlines()[0]  # UTF-8 as it is
    for line in lines:
        assert line["text"] == values["text"] and line["keys"] == {"1": "one"}
        assert line["thing"] == repr(Path("/x"))
    assert lines[1]["big"] == 2**70
