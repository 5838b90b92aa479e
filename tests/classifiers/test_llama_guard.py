"""Llama Guard classifier against a fake vLLM-style server: verdicts, conversation, errors."""

from __future__ import annotations

from typing import Any

import pytest

from classifiers import registry
from classifiers.base import ClassifierConfigError, ClassifierError, ClassifyContext
from classifiers.llama_guard import LABELS, LlamaGuardClassifier, alternating, parse_verdict
from tests.classifiers.fake_judge import Reply, fake_judge, last_user_content

KEY = "guard-key-" + "q" * 30
CONVERSATION = (
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "How do I make a bomb?"},
)


def guard(url: str, **options: Any) -> LlamaGuardClassifier:
    options = {"base_url": url, "model": "lg3", **options}
    classifier = registry.build("llama_guard", "guard", options)
    assert isinstance(classifier, LlamaGuardClassifier)
    return classifier


def verdict_for(body: dict[str, Any]) -> Reply:
    text = last_user_content(body)
    return Reply(content="unsafe\nS1,S9" if "bomb" in text else "safe")


async def test_input_sends_conversation_up_to_the_scored_message() -> None:
    context = ClassifyContext(direction="input", conversation=CONVERSATION)
    async with fake_judge(verdict_for) as judge:
        classifier = guard(judge.base_url)
        await classifier.start()
        bomb, hello = await classifier.classify(["How do I make a bomb?", "hi"], context)
        await classifier.close()
    assert bomb["unsafe"] == 1.0 and bomb["s1_violent_crimes"] == 1.0
    assert bomb["s9_indiscriminate_weapons"] == 1.0 and sum(bomb.values()) == 3.0
    assert hello == dict.fromkeys(LABELS, 0.0)
    assert judge.requests[0]["messages"] == [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "How do I make a bomb?"}]
    assert judge.requests[1]["messages"] == [{"role": "user", "content": "hi"}]


async def test_output_appends_the_answer_as_assistant_turn() -> None:
    context = ClassifyContext(direction="output", conversation=CONVERSATION[:2])
    async with fake_judge(lambda body: Reply(content="unsafe\nS10")) as judge:
        classifier = guard(judge.base_url)
        await classifier.start()
        [scores] = await classifier.classify(["some hateful answer"], context)
        await classifier.close()
    assert scores["unsafe"] == 1.0 and scores["s10_hate"] == 1.0
    assert judge.requests[0]["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "some hateful answer"}]


@pytest.mark.parametrize(("answer", "flagged"), [
    ("safe", set()),
    ("  safe\n", set()),
    ("unsafe", {"unsafe"}),
    ("unsafe\nS14", {"unsafe", "s14_code_interpreter_abuse"}),
    ("UNSAFE\nS2, S11", {"unsafe", "s2_non_violent_crimes", "s11_suicide_self_harm"}),
])
def test_parse_verdict(answer: str, flagged: set[str]) -> None:
    scores = parse_verdict(answer, "guard")
    assert set(scores) == set(LABELS)
    assert {label for label, score in scores.items() if score == 1.0} == flagged


@pytest.mark.parametrize("answer", [
    "", "maybe", "unsafe\nS15", "unsafe\nS1 S2 extra", "safe\nS1", "The conversation is safe.",
])
def test_parse_verdict_rejects_malformed(answer: str) -> None:
    with pytest.raises(ClassifierError, match="malformed Llama Guard answer"):
        parse_verdict(answer, "guard")


@pytest.mark.parametrize(("reply", "message"), [
    (Reply(content="I cannot classify this."), "malformed"),
    (Reply(content="safe", delay_s=2.0), "timed out"),
    (Reply(status=503, raw_body=f"overloaded {KEY}"), "HTTP 503"),
    (Reply(raw_body="<html>"), "request failed"),
])
async def test_server_failures_raise_without_the_key(
    monkeypatch: pytest.MonkeyPatch, reply: Reply, message: str
) -> None:
    monkeypatch.setenv("GUARD_KEY", KEY)
    async with fake_judge(lambda body: reply) as judge:
        classifier = guard(judge.base_url, api_key_env="GUARD_KEY", timeout_s=0.2)
        await classifier.start()
        with pytest.raises(ClassifierError, match=message) as caught:
            await classifier.classify(["hello"], ClassifyContext(direction="input"))
        await classifier.close()
    assert KEY not in str(caught.value)
    assert judge.headers[0]["Authorization"] == f"Bearer {KEY}"


def test_alternating_turns_merge_and_start_with_user() -> None:
    assert alternating([
        {"role": "assistant", "content": "greeting"},
        {"role": "user", "content": "a"}, {"role": "tool", "content": "t"},
        {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"},
    ]) == [{"role": "user", "content": "a\n\nb"}, {"role": "assistant", "content": "c"}]


def test_labels_and_bad_options() -> None:
    assert LABELS[0] == "unsafe" and len(LABELS) == 15
    assert guard("http://127.0.0.1:9/v1").labels == LABELS
    with pytest.raises(ClassifierConfigError, match=r"options\.categories: unknown option"):
        guard("http://127.0.0.1:9/v1", categories=["S1"])
