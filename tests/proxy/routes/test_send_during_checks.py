"""upstream.send_during_input_checks: the request goes upstream while its input checks run
and nothing of the answer reaches the client before they pass. A blocked (or refused)
request is withdrawn: the upstream's call closed unread, the client given the block. A
request that has the provider store or run anything never goes before its verdict.

The checks are held until the upstream has the request (an event the fake upstream sets),
so each test knows the order of events without timing anything: sequential sending would
time the held check out (fail closed) and block every request."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from proxy.config.schema import ProxyConfig
from proxy.protocol.side_effects import acts_upstream
from tests.proxy.routes.test_bad_input import metric
from tests.proxy.state.helpers import eventually
from tests.support.scripted import ScriptedClassifier
from tests.support.upstream import FakeUpstream, Stream, completion, sse_chunks

CHECK = {"name": "script", "type": "scripted", "timeout_s": 3.0, "on_error": "fail_closed",
         "options": {"labels": ["bad", "meh"],
                     "triggers": {"BADWORD": {"bad": 1.0}, "MEHWORD": {"meh": 0.6}}}}
LEAKED = "the upstream's answer to a blocked prompt"


def withdrawn(reason: str) -> str:
    return f'safety_proxy_withdrawn_requests_total{{reason="{reason}"}}'


def hold_checks_until_sent(fake: FakeUpstream) -> asyncio.Event:
    """Holds every input check of the newest scripted classifier until the upstream has
    received a request (the event returned is set by the upstream then); answers unheld."""
    classifier = ScriptedClassifier.instances[-1]
    sent = asyncio.Event()
    answer = fake.answer

    def received(body: dict[str, Any]) -> Any:
        sent.set()
        return answer(body)
    fake.answer = received
    classify = classifier.classify

    async def held(texts: Sequence[str], context: Any = None) -> Any:
        if context is not None and context.direction == "input":
            await sent.wait()
        return await classify(texts, context)
    classifier.classify = held  # type: ignore[method-assign]
    return sent


async def start(start_proxy, upstream: dict[str, Any] | None = None,
                **sections: Any) -> str:
    base, _ = await start_proxy(checks=[CHECK], upstream={
        "send_during_input_checks": True, **(upstream or {})}, **sections)
    return base


async def post(base: str, body: dict[str, Any], path: str = "chat/completions",
               key: str = "sk-client") -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/{path}", json=body,
            headers={"Authorization": f"Bearer {key}"}) as response:
        return response.status, await response.text()


def chat(text: str, **fields: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": text}], **fields}


async def test_an_allowed_request_is_sent_during_its_checks_and_answered(start_proxy,
                                                                         fake_upstream):
    base = await start(start_proxy)
    sent = hold_checks_until_sent(fake_upstream)
    status, text = await post(base, chat("hello there"))
    assert status == 200 and "Hello there!" in text
    assert sent.is_set() and len(fake_upstream.requests) == 1
    assert await metric(base, withdrawn("blocked")) == 0


@pytest.mark.parametrize("stream", [False, True])
async def test_the_answer_of_a_request_sent_early_is_still_checked(start_proxy, fake_upstream,
                                                                   stream):
    fake_upstream.answer = (lambda body: Stream(sse_chunks(["Here: ", "BADWORD", " ok"]))
                            ) if stream else (lambda body: completion("Here: BADWORD"))
    base = await start(start_proxy)
    hold_checks_until_sent(fake_upstream)
    status, text = await post(base, chat("hello", stream=stream))
    assert status == 200 and "BADWORD" not in text and "content_filter" in text


async def test_a_streamed_answer_is_relayed_once_the_checks_pass(start_proxy,
                                                              fake_upstream):
    fake_upstream.answer = lambda body: Stream(sse_chunks(["Sunny ", "all ", "day."]))
    base = await start(start_proxy, streaming={"mode": "low_latency"})
    hold_checks_until_sent(fake_upstream)
    status, text = await post(base, chat("weather?", stream=True))
    assert status == 200
    assert "Sunny " in text and "day." in text and "[DONE]" in text


@pytest.mark.parametrize("answered", ["answer pending", "answer complete", "stream"])
async def test_a_blocked_request_is_withdrawn_and_nothing_of_its_answer_leaks(
        start_proxy, fake_upstream, answered):
    never = asyncio.Event()

    async def pending(body: dict[str, Any]) -> Any:
        await never.wait()
    fake_upstream.answer = {
        "answer pending": pending,
        "answer complete": lambda body: completion(LEAKED),
        "stream": lambda body: Stream(sse_chunks([LEAKED] * 50), delay_s=0.05),
    }[answered]
    base = await start(start_proxy)
    hold_checks_until_sent(fake_upstream)
    status, text = await post(base, chat("BADWORD", stream=answered == "stream"))
    assert status == 400 and "content_filter" in text and LEAKED not in text
    assert len(fake_upstream.requests) == 1  # the provider did receive it
    assert await metric(base, withdrawn("blocked")) == 1
    if answered != "answer complete":  # the call is closed: the upstream stops generating
        await asyncio.wait_for(fake_upstream.disconnected.wait(), 5)
    fake_upstream.answer = lambda body: completion("Hello there!")
    status, text = await post(base, chat("hello"))  # the proxy serves on, pool intact
    assert status == 200 and "Hello there!" in text


async def test_an_upstream_error_during_the_checks_is_the_answer_once_they_pass(
        start_proxy):
    base = await start(start_proxy, upstream={"base_url": "http://127.0.0.1:9/v1"})
    for text in ("hello", "BADWORD"):  # unreachable: a 502, unless the checks block first
        status, body = await post(base, chat(text))
        assert (status, "content_filter" in body) == ((502, False) if text == "hello"
                                                      else (400, True)), body


async def test_a_principal_refused_at_its_charge_is_withdrawn(start_proxy, fake_upstream):
    """A flagged request waits in its checks while another request of its key gets the key
    throttled: its charge is refused (429) and its upstream call withdrawn."""
    base = await start(start_proxy, abuse={"weights": {"flag": 1, "block": 2},
                                           "throttle_at": 2, "ban_at": 10})
    classifier = ScriptedClassifier.instances[-1]
    release = asyncio.Event()
    classify = classifier.classify

    async def held(texts: Sequence[str], context: Any = None) -> Any:
        if any("HOLD" in text for text in texts):
            await release.wait()
        return await classify(texts, context)
    classifier.classify = held  # type: ignore[method-assign]
    flagged = asyncio.ensure_future(post(base, chat("HOLD MEHWORD")))
    await eventually(lambda: _received(fake_upstream, 1))
    assert (await post(base, chat("BADWORD")))[0] == 400  # the block throttles the key

    async def throttled() -> bool:
        return (await post(base, chat("hello")))[0] == 429
    await eventually(throttled)
    release.set()
    status, text = await flagged
    assert status == 429 and "principal_throttled" in text
    assert await metric(base, withdrawn("refused")) == 1


async def _received(fake: FakeUpstream, count: int) -> bool:
    return len(fake.requests) >= count


ACTING = {
    "responses, stored (the default)": ("responses", {"model": "m", "input": "BADWORD"}),
    "responses in a conversation": ("responses", {"model": "m", "input": "BADWORD",
                                                  "store": False, "conversation": "conv_1"}),
    "responses in the background": ("responses", {"model": "m", "input": "BADWORD",
                                                  "store": False, "background": True}),
    "responses from a stored prompt": ("responses", {"model": "m", "input": "BADWORD",
                                                     "store": False, "prompt": {"id": "pmpt_1"}}),
    "responses with web search": ("responses", {"model": "m", "input": "BADWORD",
                                                "store": False,
                                                "tools": [{"type": "web_search"}]}),
    "chat, stored": ("chat_completions", chat("BADWORD", store=True)),
    "chat with web search": ("chat_completions", chat("BADWORD", web_search_options={})),
    "messages with an MCP server": ("messages", {
        "model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": "BADWORD"}],
        "mcp_servers": [{"type": "url", "url": "https://mcp.example", "name": "x"}]}),
    "messages with a server tool": ("messages", {
        "model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": "BADWORD"}],
        "tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
}
PATHS = {"responses": "responses", "chat_completions": "chat/completions",
         "messages": "messages", "completions": "completions"}


@pytest.mark.parametrize("case", list(ACTING))
async def test_a_request_the_provider_would_act_on_waits_for_its_verdict(
        start_proxy, fake_upstream, case):
    dialect, body = ACTING[case]
    assert acts_upstream(dialect, body)
    base = await start(start_proxy)
    status, text = await post(base, body, PATHS[dialect])
    assert status == 400 and "BADWORD" not in text
    assert fake_upstream.requests == [], "a blocked prompt reached a provider that acts"
    assert await metric(base, withdrawn("blocked")) == 0


FUNCTION = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
ANSWER_ONLY = {
    "chat with function tools": ("chat_completions", chat("BADWORD", tools=[FUNCTION])),
    "completions": ("completions", {"model": "m", "prompt": "BADWORD"}),
    "responses, not stored, function tools": ("responses", {
        "model": "m", "input": "BADWORD", "store": False,
        "tools": [{"type": "function", "name": "f", "parameters": {}}]}),
    "messages with client tools": ("messages", {
        "model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": "BADWORD"}],
        "tools": [{"name": "f", "input_schema": {"type": "object"}},
                  {"type": "custom", "name": "g", "input_schema": {"type": "object"}}]}),
}


@pytest.mark.parametrize("case", list(ANSWER_ONLY))
async def test_a_request_asking_only_for_an_answer_goes_during_its_checks(
        start_proxy, fake_upstream, case):
    dialect, body = ANSWER_ONLY[case]
    assert not acts_upstream(dialect, body)
    base = await start(start_proxy)
    hold_checks_until_sent(fake_upstream)
    status, text = await post(base, body, PATHS[dialect])
    assert status == 400 and "BADWORD" not in text
    assert len(fake_upstream.requests) == 1
    assert await metric(base, withdrawn("blocked")) == 1


@pytest.mark.parametrize("tools", [None, "not a list", [{"type": "function"}, "x"]])
def test_unknown_tool_shapes_count_as_acting(tools):
    body = {"model": "m", "store": False, "tools": tools}
    assert acts_upstream("responses", body) is (tools is not None)
    assert acts_upstream("embeddings", {}) and not acts_upstream("completions", {})


def test_redaction_cannot_be_combined_with_sending_during_the_checks():
    redacting = {"rules": {"email": {"redact": 0.5}}}
    base = {"upstream": {"base_url": "http://127.0.0.1:1/v1", "send_during_input_checks": True},
            "checks": [{"name": "rules", "type": "rules"}]}
    for where in ({"policy": {"input": redacting}},
                  {"tenants": {"known": {"acme": {"policy": {"input": redacting}}}}}):
        with pytest.raises(ValidationError, match="redact cannot be used with upstream"):
            ProxyConfig.model_validate({**base, **where})
    ProxyConfig.model_validate({**base, "shadow_policy": {"input": redacting}})
    ProxyConfig.model_validate({**base, "upstream": {**base["upstream"],
                                                     "send_during_input_checks": False},
                                "policy": {"input": redacting}})
