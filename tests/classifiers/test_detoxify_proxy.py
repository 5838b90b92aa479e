"""Detoxify inside the running proxy: readiness waits for the model, the loop stays free.

A global torch forward pre-hook holds every forward pass (in the inference thread) until
the test releases it: if inference ran on the event loop, /healthz and /readyz could not
answer meanwhile and these tests would time out.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import aiohttp
import pytest
import yaml

from proxy.app import create_app
from proxy.config.loader import parse
from tests.classifiers.detoxify_fixtures import tiny_detoxify

torch = pytest.importorskip("torch")
pytest.importorskip("detoxify")


def detoxify_sections() -> dict:
    options = {key: str(value) for key, value in tiny_detoxify().options().items()}
    return {
        "checks": [{"name": "toxicity", "type": "detoxify", "directions": ["input"],
                    "timeout_s": 30, "on_error": "fail_closed", "options": options}],
        "policy": {"input": {"toxicity": {"toxicity": {"flag": 0.01}}}, "output": {},
                   "toxic_labels": ["toxicity.toxicity"], "refusal_label": None},
    }


@pytest.fixture
def forward_gate() -> Iterator[threading.Event]:
    """While this event is clear, every torch forward pass waits (at most 10 s) for it."""
    gate = threading.Event()

    def wait_for_gate(*_: object) -> None:  # (a pre-hook's non-None result replaces the args)
        gate.wait(10)

    hook = torch.nn.modules.module.register_module_forward_pre_hook(wait_for_gate)
    yield gate
    gate.set()
    hook.remove()


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, dict]:
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as response:
        return response.status, await response.json()


async def test_readyz_is_false_until_the_model_is_ready(serve_app, fake_upstream, tmp_path,
                                                        forward_gate):
    upstream = await serve_app(fake_upstream.app())
    config = {"upstream": {"base_url": f"{upstream}/v1"}, "reload": {"watch": False},
              **detoxify_sections()}
    loaded = parse(yaml.safe_dump(config).encode(), str(tmp_path / "proxy.yaml"))
    base = await serve_app(create_app(loaded, load_in_background=True))
    async with aiohttp.ClientSession() as session:
        status, body = await get(session, f"{base}/readyz")  # the warm-up forward is held
        assert status == 503 and body["status"] == "not_ready"
        assert await get(session, f"{base}/healthz") == (200, {"status": "ok"})
        forward_gate.set()
        for _ in range(200):
            status, body = await get(session, f"{base}/readyz")
            if status == 200:
                break
            await asyncio.sleep(0.05)
        assert (status, body["checks"]) == (200, ["toxicity"])


async def test_healthz_answers_while_a_large_batch_runs(start_proxy, forward_gate):
    forward_gate.set()
    base, _ = await start_proxy(**detoxify_sections())
    forward_gate.clear()
    long_message = "a long and perfectly polite message " * 400  # several windows
    payload = {"model": "m", "messages": [{"role": "user", "content": long_message}]}
    async with aiohttp.ClientSession() as session:
        chat = asyncio.create_task(session.post(f"{base}/v1/chat/completions", json=payload))
        for _ in range(5):
            assert (await get(session, f"{base}/healthz"))[0] == 200
        assert not chat.done()
        forward_gate.set()
        async with await chat as response:
            assert response.status == 200
            assert response.headers["x-safety-decision"] == "flag"


@pytest.mark.parametrize(("on_error", "decision"), [("fail_closed", "block"),
                                                    ("fail_open", "unchecked")])
async def test_a_hung_model_follows_the_checks_on_error(start_proxy, forward_gate, on_error,
                                                        decision):
    sections = detoxify_sections()
    sections["checks"][0].update(timeout_s=0.5, on_error=on_error)
    forward_gate.set()
    base, _ = await start_proxy(**sections)
    forward_gate.clear()  # the model hangs from now on
    payload = {"model": "m", "messages": [{"role": "user", "content": "hello there"}]}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/v1/chat/completions", json=payload) as response:
            assert response.headers["x-safety-decision"] == decision
        forward_gate.set()  # the model recovers; the timed-out request did not poison it
        async with session.post(f"{base}/v1/chat/completions", json=payload) as response:
            assert response.status == 200
            assert response.headers["x-safety-decision"] == "flag"
