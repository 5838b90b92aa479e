"""CLI: `events tail|export` and `principals show|unban|banned|hash` against a real Redis."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
from pathlib import Path

import pytest
import yaml

from proxy.commands import events, principals
from proxy.observability.metrics import Metrics
from proxy.pipeline.identify import Identifier
from proxy.state.factory import start_state
from tests.proxy.state.helpers import SECRET, outcome, settings
from tests.support.redis_server import RedisServer

ALICE = "a1" * 32
ABUSE = {"throttle_at": 2, "ban_at": 3, "window_s": 600}


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="safety-proxy")
    subparsers = parser.add_subparsers(required=True)
    events.register(subparsers)
    principals.register(subparsers)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def config_file(tmp_path: Path, url: str) -> str:
    path = tmp_path / "proxy.yaml"
    path.write_text(yaml.safe_dump({
        "upstream": {"base_url": "http://127.0.0.1:9/v1"},
        "store": {"url": url}, "identity": {"secret": SECRET}, "abuse": ABUSE}))
    return str(path)


def seed(url: str, records: int) -> None:
    async def run() -> None:
        layer = await start_state(settings(url, abuse=ABUSE), Metrics())
        for i in range(records):
            await layer.gate.record(outcome(ALICE, "flag", request_id=f"r{i}"))
        await layer.close()
    asyncio.run(run())


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_events_tail_and_export(redis_server: RedisServer, tmp_path, capsys) -> None:
    config = config_file(tmp_path, redis_server.url)
    seed(redis_server.url, 3)
    assert cli("events", "tail", "--config", config, "-n", "2") == 0
    tail = lines(capsys.readouterr().out)
    assert [e["request_id"] for e in tail] == ["r1", "r2"]
    assert tail[-1]["escalation"] == "ban" and tail[-1]["principal"] == ALICE
    out = tmp_path / "events.jsonl"
    assert cli("events", "export", "--config", config, "--output", str(out)) == 0
    assert [e["request_id"] for e in lines(out.read_text())] == ["r0", "r1", "r2"]
    assert cli("events", "export", "--config", config, "--after", tail[0]["id"]) == 0
    assert [e["request_id"] for e in lines(capsys.readouterr().out)] == ["r2"]
    assert cli("events", "export", "--config", config, "--since", "2000-01-01T00:00:00Z") == 0
    assert len(lines(capsys.readouterr().out)) == 3


def test_principals_show_banned_unban(redis_server: RedisServer, tmp_path, capsys) -> None:
    config = config_file(tmp_path, redis_server.url)
    seed(redis_server.url, 3)
    assert cli("principals", "banned", "--config", config) == 0
    assert [b["principal"] for b in lines(capsys.readouterr().out)] == [ALICE]
    assert cli("principals", "show", ALICE, "--config", config) == 0
    assert lines(capsys.readouterr().out)[0]["banned_until_ms"] > 0
    assert cli("principals", "unban", ALICE, "--config", config) == 0
    assert lines(capsys.readouterr().out) == [{"principal": ALICE, "unbanned": True}]
    assert cli("principals", "show", ALICE, "--config", config) == 0
    assert lines(capsys.readouterr().out)[0]["banned_until_ms"] == 0


def test_principals_hash_reads_the_value_from_stdin(tmp_path, capsys, monkeypatch) -> None:
    config = config_file(tmp_path, "redis://127.0.0.1:9/0")
    monkeypatch.setattr("sys.stdin", io.StringIO("sk-live-abc\n"))
    assert cli("principals", "hash", "--config", config) == 0
    layer = asyncio.run(start_state(settings(), Metrics()))
    expected = Identifier(layer.principal_secret).hash("api_key", "sk-live-abc")
    assert capsys.readouterr().out.strip() == expected


def test_a_memory_store_or_a_dead_redis_is_a_clear_error(tmp_path, capsys) -> None:
    assert cli("events", "tail", "--config", config_file(tmp_path, "memory")) == 2
    assert "lives inside the proxy process" in capsys.readouterr().err
    assert cli("principals", "banned", "--config",
               config_file(tmp_path, "redis://127.0.0.1:9/0")) == 1
    assert "state store error" in capsys.readouterr().err


def test_a_raw_key_is_not_accepted_as_a_principal(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit):
        cli("principals", "show", "sk-live-abc", "--config", config_file(tmp_path, "memory"))
    assert "principal hash" in capsys.readouterr().err


def test_the_safety_proxy_command_has_both(redis_server: RedisServer, tmp_path, capsys) -> None:
    from proxy.cli import main
    config = config_file(tmp_path, redis_server.url)
    seed(redis_server.url, 1)
    assert main(["events", "tail", "--config", config]) == 0
    assert lines(capsys.readouterr().out)[0]["request_id"] == "r0"
    assert main(["principals", "show", ALICE, "--config", config]) == 0
    assert lines(capsys.readouterr().out)[0]["strike_count"] == 1
