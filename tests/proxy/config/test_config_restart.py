"""Reloads and restart-only settings, and a reload to the config already running."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import aiohttp
import pytest
import yaml
from structlog.testing import capture_logs

from proxy.config.loader import ConfigError, parse
from proxy.config.restart import RESTART_ONLY, keep_restart_only
from proxy.config.schema import ProxyConfig
from proxy.resources import READINESS, STATE_LAYER

MEH = {"model": "m", "messages": [{"role": "user", "content": "a MEHWORD prompt"}]}


async def decision(base: str) -> str:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/v1/chat/completions", json=MEH) as response:
            return response.headers["x-safety-decision"]


async def samples(base: str) -> dict[str, float]:
    """The /metrics samples, by name and labels as exposed."""
    async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as response:
        text = await response.text()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


async def until(condition, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def edit(path: Path, **changes: object) -> str:
    """Sets dotted keys in the config file; returns its new sha256 prefix."""
    config = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        section = config
        for part in parents:
            section = section.setdefault(part, {})
        section[last] = value
    path.write_text(yaml.safe_dump(config))
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def restart_required(metrics: dict[str, float]) -> dict[str, float]:
    prefix = "safety_proxy_config_restart_required{setting="
    return {name[len(prefix) + 1:-2]: value for name, value in metrics.items()
            if name.startswith(prefix)}


def config_hash(metrics: dict[str, float]) -> str:
    name = next(name for name in metrics if name.startswith("safety_proxy_config_info{"))
    return name.split('"')[1]


def test_every_restart_only_setting_names_a_config_key() -> None:
    config = ProxyConfig.model_validate({"upstream": {"base_url": "http://127.0.0.1:1/v1"}})
    for path in RESTART_ONLY:
        value: object = config
        for part in path.split("."):
            assert part in type(value).model_fields, path  # type: ignore[attr-defined]
            value = getattr(value, part)


async def test_a_restart_only_change_keeps_its_running_value_and_says_so(
        start_proxy, tmp_path) -> None:
    base, app = await start_proxy(reload={"watch": True, "interval_s": 0.05})
    path = tmp_path / "proxy.yaml"
    started = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    before = await samples(base)
    assert config_hash(before) == started
    assert set(restart_required(before)) == set(RESTART_ONLY)
    assert set(restart_required(before).values()) == {0}
    with capture_logs() as logs:
        edited = edit(path, store__key_prefix="renamed",
                      policy__input__script__meh={"flag": 0.5, "block": 0.55})

        async def applied() -> bool:
            return await decision(base) == "block"  # the live change is applied
        await until(applied)
    after = await samples(base)
    assert restart_required(after)["store"] == 1
    assert {value for name, value in restart_required(after).items() if name != "store"} == {0}
    assert config_hash(after) not in (started, edited)  # neither file runs in full
    assert app[READINESS].holder.current.config.store.key_prefix == "safety-proxy"
    assert app[STATE_LAYER].settings.store.key_prefix == "safety-proxy"
    warning = next(entry for entry in logs if entry["event"] == "config_restart_required")
    assert warning["log_level"] == "warning" and warning["settings"] == ["store"]


async def test_restoring_a_restart_only_setting_clears_the_warning(start_proxy, tmp_path):
    base, _ = await start_proxy(reload={"watch": True, "interval_s": 0.05})
    path = tmp_path / "proxy.yaml"
    edit(path, server__port=1, logging__level="debug")

    async def pending() -> bool:
        return restart_required(await samples(base))["server.port"] == 1
    await until(pending)
    assert restart_required(await samples(base))["logging.level"] == 1
    edited = edit(path, server__port=8080, logging__level="info")

    async def cleared() -> bool:
        return set(restart_required(await samples(base)).values()) == {0}
    await until(cleared)
    assert config_hash(await samples(base)) == edited


async def test_a_file_restored_after_a_failed_edit_is_a_successful_reload(start_proxy,
                                                                          tmp_path):
    base, _ = await start_proxy(reload={"watch": True, "interval_s": 0.05})
    path = tmp_path / "proxy.yaml"
    good = path.read_bytes()
    path.write_text(good.decode().replace("block: 0.9", "block: 7"))

    async def failed() -> bool:
        return (await samples(base))["safety_proxy_config_last_reload_successful"] == 0
    await until(failed)
    path.write_bytes(good)

    async def recovered() -> bool:
        return (await samples(base))["safety_proxy_config_last_reload_successful"] == 1
    await until(recovered)
    metrics = await samples(base)
    assert metrics['safety_proxy_config_reloads_total{result="success"}'] == 0  # nothing swapped
    assert config_hash(metrics) == hashlib.sha256(good).hexdigest()[:12]


def test_a_file_invalid_with_the_running_restart_only_values_is_refused(monkeypatch) -> None:
    monkeypatch.delenv("SAFETY_PROXY_PRINCIPAL_SECRET", raising=False)
    base = "upstream: {base_url: 'http://127.0.0.1:1/v1'}\n"
    running = parse(base.encode(), "proxy.yaml")
    secret = "a-principal-secret-0123456789"
    new = parse((base + f"identity: {{secret: {secret}}}\nauth: {{mode: keys}}\n").encode(),
                "proxy.yaml")
    with pytest.raises(ConfigError) as caught:
        keep_restart_only(new, running)
    message = str(caught.value)
    assert message.startswith("proxy.yaml: restart-only settings (identity.secret) keep their "
                              "running values until a restart")
    assert "auth.mode: keys needs identity.secret" in message
    assert secret not in message
