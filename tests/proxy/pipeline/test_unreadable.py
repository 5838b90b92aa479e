"""Content no text classifier can read follows the policy's one choice: allow (counted),
flag or block; whatever the choice, the texts beside it are still scored."""

from __future__ import annotations

import aiohttp
import pytest

from tests.conftest import proxy_config

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


def policy(choice: str) -> dict:
    base = proxy_config("http://unused")["policy"]
    return {**base, "unreadable_content": {"input": choice}}


@pytest.mark.parametrize("checks", ["configured", "none"])  # none: no input check to run
@pytest.mark.parametrize(("choice", "status", "decision", "forwarded"), [
    ("allow", 200, "allow", 1), ("flag", 200, "flag", 1), ("block", 400, "block", 0)])
async def test_an_image_follows_the_configured_choice(start_proxy, fake_upstream, choice,
                                                      status, decision, forwarded, checks):
    chosen = {"policy": policy(choice)}
    if checks == "none":
        chosen = {"checks": [], "policy": {"input": {}, "output": {}, "toxic_labels": [],
                                           "unreadable_content": {"input": choice}}}
    base, _ = await start_proxy(**chosen)
    body = {"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"}, IMAGE]}]}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/v1/chat/completions", json=body) as response:
            assert response.status == status
            assert response.headers["x-safety-decision"] == decision
            answer = await response.json()
        async with session.get(f"{base}/metrics") as response:
            metrics = await response.text()
    assert len(fake_upstream.requests) == forwarded
    assert 'safety_proxy_unscanned_parts_total{direction="input"} 1.0' in metrics
    if choice == "block":
        reasons = answer["error"]["safety"]["reasons"]
        assert [(r["classifier"], r["action"]) for r in reasons] == [
            ("unreadable_content", "block")]


async def test_texts_beside_an_image_are_still_scored(start_proxy, fake_upstream):
    base, _ = await start_proxy(policy=policy("allow"))
    body = {"model": "m", "messages": [{"role": "user", "content": [IMAGE, {
        "type": "text", "text": "BADWORD"}]}]}
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/chat/completions", json=body) as response:
        assert response.status == 400
    assert fake_upstream.requests == []
