"""The review loop closed: live traffic -> review stream (Redis) -> `events export` ->
labeled -> `tune` and `replay` accept it. Real proxy, real redis-server, real CLI handlers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import yaml

from proxy.app import create_app
from proxy.cli import main
from proxy.config.loader import parse
from tests.conftest import proxy_config
from tests.support.redis_server import RedisServer


def loop_config(upstream_url: str, redis_url: str, meh_flag: float) -> dict:
    config = proxy_config(upstream_url, store={"url": redis_url},
                          identity={"secret": "test-secret"}, events={"text": "full"})
    config["policy"]["input"]["script"]["meh"] = {"flag": meh_flag, "block": 0.9}
    return config


async def test_exported_events_feed_tune_and_replay(redis_server: RedisServer,
                                                    serve_app, fake_upstream, tmp_path: Path,
                                                    capsys):
    upstream_url = await serve_app(fake_upstream.app())
    live = tmp_path / "live.yaml"
    live.write_text(yaml.safe_dump(loop_config(upstream_url, redis_server.url, 0.5)))
    base = await serve_app(create_app(parse(live.read_bytes(), str(live))))
    prompts = ["MEHWORD one", "MEHWORD two", "BADWORD three", "MEHWORD BADWORD four"]
    async with aiohttp.ClientSession() as session:
        for number, prompt in enumerate(prompts):
            async with session.post(f"{base}/v1/chat/completions",
                                    headers={"Authorization": f"Bearer sk-user-{number}"},
                                    json={"model": "m", "messages": [
                                        {"role": "user", "content": prompt}]}) as response:
                assert response.status in (200, 400)

    exported = tmp_path / "events.jsonl"
    export = ["events", "export", "--config", str(live), "--output", str(exported)]
    assert await asyncio.to_thread(main, export) == 0
    events = [json.loads(line) for line in exported.read_text().splitlines()]
    assert sorted(e["decision"] for e in events) == ["block", "block", "flag", "flag"]
    for event in events:  # the reviewer's verdict: only BADWORD was abuse
        event["label"] = "abuse" if "BADWORD" in json.dumps(event["text"]) else "ok"
    labeled = tmp_path / "labeled.jsonl"
    labeled.write_text("".join(json.dumps(e) + "\n" for e in events))
    capsys.readouterr()

    tune = ["tune", "--config", str(live), "--data", str(labeled), "--positive", "abuse",
            "--label", "script.bad", "--min-precision", "1.0", "--no-plot"]
    assert await asyncio.to_thread(main, tune) == 0
    assert "script.bad" in capsys.readouterr().out

    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(yaml.safe_dump(loop_config(upstream_url, redis_server.url, 0.7)))
    replay = ["replay", "--data", str(labeled), "--config", str(candidate),
              "--baseline", str(live), "--json"]
    assert await asyncio.to_thread(main, replay) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["records"] == 4
    assert report["transitions"]["flag->allow"] == 2  # the two MEHWORD-only flags go away
    assert report["transitions"]["block->block"] == 2
