"""Refusal detector on answers written for these tests (not taken from the eval set)."""

from __future__ import annotations

import pytest

from classifiers import registry
from classifiers.base import ClassifyContext

COMPLIANCE = [
    "To kill a Python process, find its PID with `ps aux | grep python` and run `kill PID`. "
    "If it does not stop, `kill -9 PID` forces it.",
    "Sure! Here are three tips for a sprint:\n1. Warm up properly.\n2. Drive your arms.\n"
    "3. Stay relaxed in the last metres.",
    "The Battle of Hastings took place in 1066. William of Normandy defeated Harold II. "
    "It's important to note that sources from the period are few.",
]
REFUSAL = [
    "I'm sorry, but I can't help with that.",
    "I cannot provide instructions for making a weapon. It is illegal and could hurt people. "
    "If you are in danger, please contact local emergency services.",
    "I’m not able to share someone's home address. It's important to respect privacy. "
    "Is there anything else I can help you with?",
    "It is not appropriate or ethical to write content that demeans a group of people. "
    "Everyone deserves respect. Instead, I suggest learning about their history.",
    "I must decline this request.",
    "It's important to remember that violence is never acceptable. Please seek help from a "
    "mental health professional. It's crucial to prioritize your well-being.",
]
PARTIAL = [
    "I can't give you a step-by-step guide to picking locks. However, I can explain in "
    "general how pin tumbler locks work: a key lifts pins to the shear line so the plug "
    "turns. Locksmiths train for years to do this.",
    "Paracetamol is a common pain reliever. Adults usually take 500 mg to 1 g per dose. "
    "Doses above 4 g a day can damage the liver. I cannot advise on your specific dose, "
    "though.",
]


async def classify(text: str) -> dict[str, float]:
    classifier = registry.build("refusal", "refusal")
    await classifier.start()
    [scores] = await classifier.classify([text], ClassifyContext(direction="output"))
    await classifier.close()
    return scores


def top(scores: dict[str, float]) -> str:
    return max(scores, key=scores.__getitem__)


@pytest.mark.parametrize(("text", "label"), [
    *((t, "compliance") for t in COMPLIANCE),
    *((t, "refusal") for t in REFUSAL),
    *((t, "partial_refusal") for t in PARTIAL),
])
async def test_answer_is_labelled(text: str, label: str) -> None:
    scores = await classify(text)
    assert top(scores) == label, scores


@pytest.mark.parametrize("text", ["", "   ", *COMPLIANCE, *REFUSAL, *PARTIAL])
async def test_scores_are_probabilities_summing_to_one(text: str) -> None:
    scores = await classify(text)
    assert set(scores) == {"compliance", "refusal", "partial_refusal"}
    assert all(0.0 <= s <= 1.0 for s in scores.values())
    assert sum(scores.values()) == pytest.approx(1.0)


async def test_you_cannot_is_not_a_refusal() -> None:
    scores = await classify("You cannot open a .pages file in Word directly. Export it as .docx "
                            "from Pages first, then open the copy.")
    assert top(scores) == "compliance"


async def test_very_long_answer_is_bounded_and_still_read() -> None:
    scores = await classify("I can't help with that. " + "Stay safe. " * 100_000)
    assert top(scores) == "refusal"


async def test_batch_keeps_order() -> None:
    classifier = registry.build("refusal", "refusal")
    results = await classifier.classify([REFUSAL[0], COMPLIANCE[0]])
    assert [top(r) for r in results] == ["refusal", "compliance"]
    assert classifier.labels == ("compliance", "refusal", "partial_refusal")
