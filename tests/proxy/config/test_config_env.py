"""Environment interpolation in config files: ${VAR} and ${VAR:-default}, at load and at every
reload, with file:line errors that never show a variable's value."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
import yaml
from structlog.testing import capture_logs

from proxy.cli import main
from proxy.config.interpolate import load_yaml
from proxy.config.loader import ConfigError, load_file, parse

FIXTURE = Path(__file__).parent / "fixtures" / "interpolated.yaml"
SECRET = "sk-live-0123456789abcdef"
BASE = "upstream:\n  base_url: http://127.0.0.1:1/v1\n"


def load(text: str) -> dict:
    return parse(text.encode(), "proxy.yaml").config.model_dump(mode="json")


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(text.encode(), "proxy.yaml")
    return str(caught.value)


def test_the_fixture_reads_its_deployment_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("UPSTREAM_URL", "http://model.internal:8000/v1")
    monkeypatch.setenv("PROXY_PORT", "9123")
    monkeypatch.setenv("RELOAD_WATCH", "true")
    for unset in ("PROXY_HOST", "DEPLOYMENT", "KEY_PREFIX", "LOG_LEVEL"):
        monkeypatch.delenv(unset, raising=False)
    config = load_file(FIXTURE).config
    assert config.upstream.base_url == "http://model.internal:8000/v1"
    assert config.server.port == 9123 and config.server.host == "127.0.0.1"
    assert config.reload.watch is True
    assert config.upstream.headers == {"x-deployment": "dev",
                                       "x-price": "costs $5 and ${literal}"}


def test_defaults_apply_when_a_variable_is_unset_or_empty(monkeypatch) -> None:
    monkeypatch.delenv("PORT", raising=False)
    assert load(BASE + "server:\n  port: ${PORT:-8081}\n")["server"]["port"] == 8081
    monkeypatch.setenv("PORT", "")
    assert load(BASE + "server:\n  port: ${PORT:-8082}\n")["server"]["port"] == 8082


def test_a_whole_plain_reference_is_typed_and_anything_else_stays_text(monkeypatch) -> None:
    monkeypatch.setenv("N", "12")
    data, _, _ = load_yaml(
        "a: ${N}\nb: '${N}'\nc: x${N}\nd: ${EMPTY:-}\ne: ${T:-true}\nf: !!str ${N}\n",
        "f.yaml")
    assert data == {"a": 12, "b": "12", "c": "x12", "d": None, "e": True, "f": "12"}


def test_an_unset_variable_is_a_file_line_error(monkeypatch) -> None:
    monkeypatch.delenv("UPSTREAM_URL", raising=False)
    text = "server:\n  port: 8080\nupstream:\n  base_url: ${UPSTREAM_URL}\n"
    assert error_of(text) == ("proxy.yaml:4: environment variable UPSTREAM_URL is not set "
                              "(write ${UPSTREAM_URL:-default} to give a default)")


def test_every_bad_reference_is_reported_with_its_line(monkeypatch) -> None:
    monkeypatch.delenv("NOPE", raising=False)
    message = error_of(BASE + "routes:\n  forward:\n    - GET ${NOPE}\n"
                       "upstream_extra: ${bad-name}\n${KEY}: 1\n")
    lines = message.splitlines()
    assert lines[0].startswith("proxy.yaml:5: environment variable NOPE is not set")
    assert lines[1].startswith("proxy.yaml:6: malformed ${...} reference")
    assert lines[2].startswith("proxy.yaml:7: ${...} is not expanded in keys")


def test_a_rejected_value_from_the_environment_is_not_echoed(monkeypatch) -> None:
    # The rule validator quotes the rule it rejects: inline, the value shows...
    inline = error_of(BASE + f"routes:\n  forward:\n    - {SECRET}\n")
    assert SECRET in inline
    # ...from the environment, it does not, and the line and key still do.
    monkeypatch.setenv("ROUTE", SECRET)
    message = error_of(BASE + "routes:\n  forward:\n    - ${ROUTE}\n")
    assert SECRET not in message
    assert message.startswith("proxy.yaml:4: routes.forward: ")
    assert "<from the environment>" in message


def test_check_config_reports_the_file_line_error(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("UPSTREAM_URL", raising=False)
    assert main(["check-config", "--no-start", str(FIXTURE)]) == 1
    assert capsys.readouterr().err == (
        f"{FIXTURE}:7: environment variable UPSTREAM_URL is not set "
        "(write ${UPSTREAM_URL:-default} to give a default)\n")
    monkeypatch.setenv("UPSTREAM_URL", "http://127.0.0.1:1/v1")
    assert main(["check-config", "--no-start", str(FIXTURE)]) == 0
    assert "OK" in capsys.readouterr().out


# Hot reload: the file is interpolated afresh at every reload.

MEH = {"model": "m", "messages": [{"role": "user", "content": "a MEHWORD prompt"}]}


async def decision(base: str) -> str:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/v1/chat/completions", json=MEH) as response:
            return response.headers["x-safety-decision"]


async def scrape(base: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as response:
        return await response.text()


async def until(condition, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def with_meh_thresholds(path: Path, flag: str, block: str) -> None:
    """Rewrites the meh thresholds as raw YAML text (references stay references)."""
    config = yaml.safe_load(path.read_text())
    config["policy"]["input"]["script"]["meh"] = {"flag": "FLAG", "block": "BLOCK"}
    text = yaml.safe_dump(config, sort_keys=False)
    path.write_text(text.replace("FLAG", flag).replace("BLOCK", block))


def success_count(text: str) -> float:
    line = next(line for line in text.splitlines()
                if line.startswith('safety_proxy_config_reloads_total{result="success"}'))
    return float(line.split()[-1])


async def test_reloads_interpolate_the_environment_each_time(start_proxy, tmp_path,
                                                             monkeypatch) -> None:
    base, _ = await start_proxy(reload={"watch": True, "interval_s": 0.05})
    path = tmp_path / "proxy.yaml"
    assert await decision(base) == "flag"
    monkeypatch.setenv("MEH_BLOCK", "0.55")
    with_meh_thresholds(path, "0.5", "${MEH_BLOCK}")

    async def blocked() -> bool:
        return await decision(base) == "block"
    await until(blocked)
    # Another edit, the environment unchanged: the reference still reads it.
    with_meh_thresholds(path, "${MEH_FLAG:-0.4}", "${MEH_BLOCK}")

    async def reloaded_twice() -> bool:
        return success_count(await scrape(base)) == 2
    await until(reloaded_twice)
    assert await decision(base) == "block"


async def test_a_reload_with_an_unset_variable_keeps_the_running_config(
        start_proxy, tmp_path, monkeypatch) -> None:
    base, _ = await start_proxy(reload={"watch": True, "interval_s": 0.05})
    path = tmp_path / "proxy.yaml"
    monkeypatch.delenv("MEH_BLOCK", raising=False)
    monkeypatch.setenv("ROUTE", SECRET)
    with capture_logs() as logs:
        with_meh_thresholds(path, "0.5", "${MEH_BLOCK}")
        line = 1 + next(n for n, text in enumerate(path.read_text().splitlines())
                        if "${MEH_BLOCK}" in text)

        async def failed() -> bool:
            return any(entry["event"] == "config_reload_failed" for entry in logs)
        await until(failed)
        # A second bad file: a rejected value from the environment.
        config = yaml.safe_load(path.read_text().replace("${MEH_BLOCK}", "0.55"))
        config["routes"] = {"forward": ["ROUTE_REF"]}
        path.write_text(yaml.safe_dump(config).replace("ROUTE_REF", "${ROUTE}"))

        async def failed_twice() -> bool:
            return sum(entry["event"] == "config_reload_failed" for entry in logs) == 2
        await until(failed_twice)
    errors = [entry["error"] for entry in logs if entry["event"] == "config_reload_failed"]
    assert errors[0] == (f"{path}:{line}: environment variable MEH_BLOCK is not set "
                         "(write ${MEH_BLOCK:-default} to give a default)")
    assert "routes.forward: " in errors[1]
    assert all(SECRET not in str(entry) for entry in logs)
    assert await decision(base) == "flag"  # the running thresholds
