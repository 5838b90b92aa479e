"""Input redaction reaches the upstream masked; a shadow policy is measured, never acted on."""

from __future__ import annotations

import aiohttp
import pytest

from proxy.config.loader import ConfigError, parse
from proxy.config.snapshot import build_snapshot

SECRET_CHECK = {"name": "pii", "type": "scripted", "directions": ["input"], "options": {
    "labels": ["secret"], "triggers": {"SECRETWORD": {"secret": 1.0}}}}
SCRIPT_CHECK = {"name": "script", "type": "scripted", "options": {
    "labels": ["bad", "meh"], "triggers": {"BADWORD": {"bad": 1.0}, "MEHWORD": {"meh": 0.6}}}}


async def chat(base: str, content: str) -> tuple[int, dict, str]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/v1/chat/completions", json={
                "model": "m", "messages": [{"role": "user", "content": content}]}) as response:
            return response.status, await response.json(), response.headers["x-safety-decision"]


async def metrics_text(base: str) -> str:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/metrics") as response:
            return await response.text()


async def test_redacted_span_reaches_upstream_masked(start_proxy, fake_upstream):
    base, _ = await start_proxy(checks=[SCRIPT_CHECK, SECRET_CHECK], policy={
        "input": {"pii": {"secret": {"redact": 0.5}}}, "output": {}})
    status, _, decision = await chat(base, "my key is SECRETWORD, twice: SECRETWORD")
    assert status == 200 and decision == "flag"
    sent = fake_upstream.requests[0]["messages"][0]["content"]
    assert sent == "my key is [REDACTED], twice: [REDACTED]"
    assert "safety_proxy_redactions_total 2.0" in await metrics_text(base)


async def test_block_wins_over_redact_and_clean_text_is_untouched(start_proxy, fake_upstream):
    base, _ = await start_proxy(checks=[SCRIPT_CHECK, SECRET_CHECK], policy={
        "input": {"pii": {"secret": {"redact": 0.5}}, "script": {"bad": {"block": 0.9}}},
        "output": {}})
    status, _, _ = await chat(base, "SECRETWORD and BADWORD")
    assert status == 400 and fake_upstream.requests == []
    status, _, decision = await chat(base, "nothing to hide")
    assert status == 200 and decision == "allow"
    assert fake_upstream.requests[0]["messages"][0]["content"] == "nothing to hide"


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("policy: {output: {tox: {profane: {redact: 0.5}}}}",
     "redact applies to input only"),
    ("policy: {input: {tox: {profane: {redact: 0.5}}}}",
     "policy.input.tox.profane: redact needs a check that can redact"),
    ("shadow_policy: {input: {tox: {nope: {block: 0.5}}}}",
     "shadow_policy.input.tox.nope: unknown label"),
])
async def test_bad_redact_and_shadow_policies_are_config_errors(yaml_text, message):
    raw = ("upstream: {base_url: 'http://127.0.0.1:1/v1'}\n"
           "checks: [{name: tox, type: profanity}]\n" + yaml_text + "\n").encode()
    with pytest.raises(ConfigError, match=message):
        await build_snapshot(parse(raw, "p.yaml"))


async def test_shadow_policy_counts_disagreements_without_changing_decisions(start_proxy):
    shadow = {"input": {"script": {"meh": {"block": 0.55}, "bad": {"block": 0.9}}}}
    base, _ = await start_proxy(shadow_policy=shadow)
    status, body, decision = await chat(base, "a MEHWORD prompt")
    assert status == 200 and decision == "flag"  # the live policy only flags
    assert body["choices"][0]["message"]["content"] == "Hello there!"
    await chat(base, "a clean prompt")
    text = await metrics_text(base)
    assert ('safety_proxy_shadow_disagreements_total{direction="input",live="flag",'
            'shadow="block"} 1.0') in text
    assert 'safety_proxy_shadow_decisions_total{decision="allow",direction="input"} 1.0' in text
    assert 'safety_proxy_shadow_decisions_total{decision="block",direction="input"} 1.0' in text


async def test_tenant_overrides_apply_only_to_that_tenant(start_proxy):
    tenants = {"header": "x-tenant-id", "trust_header": True, "known": {
        "strict": {"policy": {"input": {"script": {"meh": {"block": 0.55}}}}}, "lenient": {}}}
    base, _ = await start_proxy(tenants=tenants)
    decisions = {}
    async with aiohttp.ClientSession() as session:
        for tenant in ("strict", "lenient", "unknown-co", None):
            headers = {"x-tenant-id": tenant} if tenant else {}
            async with session.post(f"{base}/v1/chat/completions", headers=headers, json={
                    "model": "m", "messages": [{"role": "user", "content": "MEHWORD"}]}) as r:
                decisions[tenant] = r.headers["x-safety-decision"]
    assert decisions == {"strict": "block", "lenient": "flag", "unknown-co": "flag", None: "flag"}
    text = await metrics_text(base)
    series = 'safety_proxy_tenant_moderations_total{decision="%s",direction="input",tenant="%s"}'
    assert f"{series % ('block', 'strict')} 1.0" in text
    assert f"{series % ('flag', 'other')} 2.0" in text
    assert f"{series % ('allow', 'lenient')} 0.0" in text  # pre-initialised


async def test_tenant_names_are_bounded():
    raw = (b"upstream: {base_url: 'http://127.0.0.1:1/v1'}\n"
           b"tenants: {known: {'Bad Name!': {}}}\n")
    with pytest.raises(ConfigError, match="tenant name 'Bad Name!'"):
        parse(raw, "p.yaml")


async def test_records_keep_the_redacted_text_even_when_the_request_is_blocked(
        start_proxy, fake_upstream, capsys):
    """A detected secret is never stored raw, whatever logging.text says: the log line
    carries the redacted text, for a blocked request as for a forwarded one."""
    thresholds = {"script": {"bad": {"block": 0.9}, "meh": {"redact": 0.5}}}
    base, _ = await start_proxy(
        policy={"input": thresholds, "output": {}, "toxic_labels": [], "refusal_label": None},
        logging={"text": "full"})
    capsys.readouterr()
    async with aiohttp.ClientSession() as session:
        for content in ("my MEHWORD and BADWORD", "only MEHWORD here"):
            async with session.post(f"{base}/v1/chat/completions", json={
                    "model": "m", "messages": [{"role": "user", "content": content}]}):
                pass
    logged = [line for line in capsys.readouterr().out.splitlines() if "texts=" in line]
    assert len(logged) == 2
    assert all("MEHWORD" not in line and "[REDACTED]" in line for line in logged)
    assert "BADWORD" in logged[0]  # only what the policy redacts is masked
    assert fake_upstream.requests[0]["messages"][0]["content"] == "only [REDACTED] here"


async def test_records_mask_personal_data_and_secrets_whatever_the_policy_did(
        start_proxy, fake_upstream):
    """The policy only flags the secret (the upstream gets it as sent, the operator's
    choice); the log line and the review event keep it masked even with logging.text and
    events.text full. The answer's e-mail address is masked in the records too."""
    from structlog.testing import capture_logs

    from proxy.resources import ABUSE_GATE
    from tests.support.upstream import completion

    rules = {"name": "pii", "type": "rules", "options": {"detectors": ["secret", "email"]}}
    secret, email = "sk-proj-" + "Q7x9" * 10, "jane.doe@example.com"
    fake_upstream.answer = lambda body: completion(f"Write to {email} about it.")
    base, app = await start_proxy(
        checks=[SCRIPT_CHECK, rules], logging={"text": "full"}, events={"text": "full"},
        policy={"input": {"pii": {"secret": {"flag": 0.5}}},
                "output": {"pii": {"email": {"flag": 0.5}}}})
    with capture_logs() as logs:
        status, _, decision = await chat(base, f"my key is {secret}, keep it")
    assert status == 200 and decision == "flag"
    assert secret in fake_upstream.requests[0]["messages"][0]["content"]  # only flagged
    (line,) = [entry for entry in logs if entry["event"] == "request"]
    assert line["texts"]["input"] == ["my key is [REDACTED:secret], keep it"]
    assert line["texts"]["output"] == ["Write to [REDACTED:email] about it."]
    events = await app[ABUSE_GATE].store.recent_events(10)
    assert events and secret not in str(events) and email not in str(events)
    assert "[REDACTED:secret]" in events[-1].fields["text"]


@pytest.mark.parametrize("text", ["off", "full"])
async def test_an_answer_without_output_checks_is_read_only_for_a_record_that_keeps_it(
        start_proxy, fake_upstream, text):
    """With no output check the answer's texts are read only when the log line (or the
    review event) keeps conversation text; the answer is relayed unchanged either way."""
    from structlog.testing import capture_logs

    from tests.support.upstream import completion

    fake_upstream.answer = lambda body: completion("An answer worth keeping.")
    base, _ = await start_proxy(checks=[], logging={"text": text},
                                policy={"input": {}, "output": {}, "toxic_labels": [],
                                        "refusal_label": None})
    with capture_logs() as logs:
        status, body, decision = await chat(base, "a question")
    assert (status, decision) == (200, "allow")
    assert body["choices"][0]["message"]["content"] == "An answer worth keeping."
    (line,) = [entry for entry in logs if entry["event"] == "request"]
    if text == "full":
        assert line["texts"] == {"input": ["a question"], "output": ["An answer worth keeping."]}
    else:
        assert "texts" not in line
