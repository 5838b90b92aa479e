"""``POST /v1/moderations`` end to end: the official openai SDK -> the proxy, which answers
itself with its input checks and policy (the upstream never sees a byte).

The scripted check scores BADWORD bad=1.0 (block 0.9) and MEHWORD meh=0.6 (flag 0.5)."""

from __future__ import annotations

import aiohttp
import openai
import pytest
from openai.types import ModerationCreateResponse

from proxy.resources import BACKGROUND, STATE_LAYER

KEYS = ["script.bad", "script.meh"]


def verdict(result) -> tuple[bool, dict, dict, str]:
    """flagged, categories, category_scores and the safety decision of one result."""
    extra = result.model_extra or {}
    return (result.flagged, result.categories.to_dict(), result.category_scores.to_dict(),
            extra["safety"]["decision"])


async def test_a_string_gets_one_result_per_label_of_every_input_check(
        start_proxy, openai_client, fake_upstream):
    base, _ = await start_proxy()
    raw = await openai_client(base).moderations.with_raw_response.create(input="you BADWORD")
    answer = raw.parse()
    assert isinstance(answer, ModerationCreateResponse)
    assert answer.model == "safety-proxy"
    assert answer.id == f"modr-{raw.headers['x-request-id']}"
    assert verdict(answer.results[0]) == (
        True, {"script.bad": True, "script.meh": False},
        {"script.bad": 1.0, "script.meh": 0.0}, "block")
    assert answer.results[0].category_applied_input_types.to_dict() == {
        key: ["text"] for key in KEYS}
    assert (answer.results[0].model_extra or {})["safety"]["reasons"] == [
        {"classifier": "script", "label": "bad", "score": 1.0, "threshold": 0.9,
         "action": "block"}]
    assert raw.http_response.status_code == 200
    assert raw.headers["x-safety-decision"] == "block"
    assert fake_upstream.requests == [] and fake_upstream.headers == []


async def test_each_string_of_a_list_is_decided_on_its_own(start_proxy, openai_client,
                                                           fake_upstream):
    base, _ = await start_proxy()
    raw = await openai_client(base).moderations.with_raw_response.create(
        input=["hello", "so MEHWORD", "BADWORD"], model="omni-moderation-latest")
    answer = raw.parse()
    assert answer.model == "omni-moderation-latest"
    assert [verdict(result) for result in answer.results] == [
        (False, dict.fromkeys(KEYS, False), dict.fromkeys(KEYS, 0.0), "allow"),
        (True, {"script.bad": False, "script.meh": True},
         {"script.bad": 0.0, "script.meh": 0.6}, "flag"),
        (True, {"script.bad": True, "script.meh": False},
         {"script.bad": 1.0, "script.meh": 0.0}, "block"),
    ]
    assert raw.headers["x-safety-decision"] == "block"  # the strongest over the inputs
    assert fake_upstream.requests == [] and fake_upstream.headers == []


async def test_a_multimodal_array_is_one_input_and_its_images_are_counted(
        start_proxy, openai_client, fake_upstream):
    base, _ = await start_proxy()
    raw = await openai_client(base).moderations.with_raw_response.create(input=[
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "text", "text": "MEHWORD"}])
    answer = raw.parse()
    assert len(answer.results) == 1
    assert verdict(answer.results[0]) == (
        True, {"script.bad": False, "script.meh": True},
        {"script.bad": 0.0, "script.meh": 0.6}, "flag")
    assert raw.headers["x-safety-decision"] == "flag"
    metrics = await _metrics(base)
    assert 'safety_proxy_unscanned_parts_total{direction="input"} 1.0' in metrics
    assert fake_upstream.requests == [] and fake_upstream.headers == []


async def test_an_input_with_nothing_to_score_is_allowed(start_proxy, openai_client):
    base, _ = await start_proxy()
    client = openai_client(base)
    images_only = await client.moderations.create(input=[
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}])
    blanks = await client.moderations.create(input=["", "  "])
    for result in (*images_only.results, *blanks.results):
        assert verdict(result) == (
            False, dict.fromkeys(KEYS, False), dict.fromkeys(KEYS, 0.0), "allow")
    assert len(blanks.results) == 2


async def test_each_input_is_decided_with_the_tenants_policy(start_proxy, openai_client):
    tenants = {"header": "x-tenant-id", "trust_header": True, "known": {
        "strict": {"policy": {"input": {"script": {"meh": {"block": 0.55}}}}}}}
    base, _ = await start_proxy(tenants=tenants)
    client = openai_client(base)
    strict = await client.moderations.create(input=["MEHWORD", "hi"],
                                             extra_headers={"x-tenant-id": "strict"})
    base_policy = await client.moderations.create(input="MEHWORD")
    assert [verdict(r)[3] for r in strict.results] == ["block", "allow"]
    assert verdict(base_policy.results[0])[3] == "flag"
    metrics = await _metrics(base)
    assert ('safety_proxy_tenant_moderations_total{decision="block",direction="input",'
            'tenant="strict"} 1.0') in metrics


@pytest.mark.parametrize("body", [
    {},
    {"input": None},
    {"input": 42},
    {"input": []},
    {"input": ["fine", 7]},
    {"input": ["fine", {"type": "text", "text": "mixed"}]},
    {"input": [{"type": "text"}]},
    {"input": [{"type": "text", "text": 3}]},
    {"input": [{"type": "image_url", "image_url": "not an object"}]},
    {"input": [{"type": "audio", "audio": "..."}]},
])
async def test_a_bad_input_is_a_400_in_the_openai_error_format(start_proxy, openai_client,
                                                               fake_upstream, body):
    base, _ = await start_proxy()
    with pytest.raises(openai.BadRequestError) as caught:
        await openai_client(base).moderations.create(input=openai.omit, extra_body=body)
    error = caught.value
    assert error.status_code == 400 and error.param == "input"
    assert error.type == "invalid_request_error"
    assert fake_upstream.requests == [] and fake_upstream.headers == []
    # the proxy still answers afterwards
    assert (await openai_client(base).moderations.create(input="hi")).results[0].flagged is False


async def test_a_bad_model_or_body_is_a_400(start_proxy):
    base, _ = await start_proxy()
    async with aiohttp.ClientSession() as session:
        for data, param in ((b'{"input": "hi", "model": 3}', "model"), (b"[1]", None),
                            (b"not json", None)):
            async with session.post(f"{base}/v1/moderations", data=data) as response:
                assert response.status == 400
                error = (await response.json())["error"]
                assert error["param"] == param and error["type"] == "invalid_request_error"


async def test_metrics_count_the_route_and_its_input_moderation(start_proxy, openai_client):
    base, _ = await start_proxy()
    client = openai_client(base)
    await client.moderations.create(input="BADWORD")
    await client.moderations.create(input="hello")
    metrics = await _metrics(base)
    assert 'safety_proxy_requests_total{decision="block",route="moderations"} 1.0' in metrics
    assert 'safety_proxy_requests_total{decision="allow",route="moderations"} 1.0' in metrics
    assert 'safety_proxy_moderations_total{decision="block",direction="input"} 1.0' in metrics
    assert 'safety_proxy_request_duration_seconds_count{route="moderations"} 2.0' in metrics


ABUSE = {"weights": {"flag": 1, "block": 1}, "window_s": 60, "throttle_at": 2,
         "throttle_s": 60, "ban_at": 3, "ban_s": 60}


async def test_moderations_strike_no_principal_but_reach_the_review_stream(
        start_proxy, openai_client):
    base, app = await start_proxy(abuse=ABUSE)
    client = openai_client(base)
    for _ in range(20):
        assert (await client.moderations.create(input="BADWORD")).results[0].flagged
    await app[BACKGROUND].drain()
    answer = await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hello"}])
    assert answer.choices[0].message.content == "Hello there!"  # neither throttled nor banned
    events = await app[STATE_LAYER].store.recent_events(50)
    assert len(events) == 20 and {e.fields["decision"] for e in events} == {"block"}
    assert {e.fields["principal"] for e in events} == {""}
    assert 'safety_proxy_strikes_total{decision="block"} 0.0' in await _metrics(base)


async def test_the_same_abuse_config_does_strike_generation_requests(start_proxy,
                                                                     openai_client):
    base, app = await start_proxy(abuse=ABUSE)
    client = openai_client(base)
    for _ in range(2):
        with pytest.raises(openai.BadRequestError):
            await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "BADWORD"}])
        await app[BACKGROUND].drain()
    with pytest.raises(openai.RateLimitError):  # throttled at 2 strikes
        await client.moderations.create(input="hello")  # the gate admits moderations too


async def _metrics(base: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as response:
        return await response.text()


async def test_fragments_are_read_joined_within_an_input_not_across_inputs(start_proxy,
                                                                          openai_client):
    """One input's text parts are one text (read joined: views.seams); separate inputs are
    separate texts, and short ones are never joined with each other."""
    base, _ = await start_proxy()
    client = openai_client(base)
    parts = await client.moderations.create(input=[
        {"type": "text", "text": "BAD"}, {"type": "text", "text": "WORD"}])
    strings = await client.moderations.create(input=["BAD", "WORD"])
    assert verdict(parts.results[0])[3] == "block"
    assert [verdict(result)[3] for result in strings.results] == ["allow", "allow"]
