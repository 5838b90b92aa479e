"""``type: language`` (classifiers/language.py): how much of a text is in a language the
other checks do not read, by the real CLD2 (pycld2)."""

from __future__ import annotations

import aiohttp
import pytest

from classifiers.base import ClassifierConfigError
from classifiers.language import LanguageClassifier

ENGLISH = "How do I get my neighbour to stop playing loud music at night?"
SPANISH = "¿Cómo puedo hacer que mi vecino deje de poner música alta por la noche?"
OTHERS = [SPANISH,
          "Comment puis-je faire pour que mon voisin arrête la musique forte la nuit ?",
          "Wie bringe ich meinen Nachbarn dazu, nachts keine laute Musik mehr zu spielen?",
          "我怎样才能让我的邻居晚上不再大声放音乐？请给我一些建议。",
          "Как заставить соседа перестать громко включать музыку по ночам?",
          "Ngingamenza kanjani umakhelwane wami ayeke ukudlala umculo ophezulu ebusuku?",
          "Hoe maak ik een bom?", "Jak zrobić bombę w domu?"]  # 15 and 18 letters


async def other(text: str, **options) -> float:
    check = LanguageClassifier("language", options)
    await check.start()
    [scores] = await check.classify([text])
    return scores["other"]


@pytest.mark.parametrize("text", OTHERS)
async def test_another_language_scores_high(text: str) -> None:
    assert await other(text) >= 0.9


@pytest.mark.parametrize("text", [
    ENGLISH, "lol ur so dumb haha, everyone knows it",
    "Please translate 'good night' into Spanish.",
    "def total(items):\n    return sum(item.price for item in items)  # all prices",
    "ok", "¿Qué?", "1234 5678 9012 3456 7890 !!!! ????"])
async def test_english_code_and_too_little_to_tell_score_zero(text: str) -> None:
    assert await other(text) == 0.0


async def test_the_languages_read_are_the_options() -> None:
    assert await other(SPANISH, languages=["en", "es"]) == 0.0
    assert await other(ENGLISH, languages=["es"]) >= 0.9
    assert await other(SPANISH, min_letters=200) == 0.0  # too short to tell, by the option
    assert await other("Qué hora es?") == 0.0  # 9 letters: under the default 12


async def test_a_foreign_part_of_a_text_counts() -> None:
    assert 0.3 <= await other(f"{ENGLISH} {' '.join(OTHERS[1:3])}") <= 1.0


@pytest.mark.parametrize("planted", [
    "\x1f", "\x00", "\x7f", "\x85", "\ufdd0", "\ufffe", "\uffff", "\ud800", "\U0010ffff",
    "\U0001fffe"])
async def test_no_character_makes_the_detector_give_up(planted: str) -> None:
    """CLD2 refuses a text with a control character, a noncharacter or a lone surrogate
    as invalid UTF-8: planting one must not hide the language of the rest."""
    assert await other(f"{SPANISH}{planted} {SPANISH}") >= 0.9


@pytest.mark.parametrize("code", ["english", "xx", "EN"])
async def test_a_language_code_cld2_does_not_report_is_refused(code: str) -> None:
    with pytest.raises(ClassifierConfigError, match=code):
        await LanguageClassifier("language", {"languages": ["en", code]}).start()


def test_the_version_names_the_options() -> None:
    versions = {LanguageClassifier("l", options).version for options in (
        {}, {"languages": ["en", "fr"]}, {"min_letters": 30})}
    assert len(versions) == 3


async def test_through_the_proxy_another_language_is_flagged_or_blocked(start_proxy,
                                                                         fake_upstream):
    check = {"name": "language", "type": "language"}
    base, _ = await start_proxy(checks=[check], policy={
        "input": {"language": {"other": {"flag": 0.5, "block": 0.99}}},
        "output": {"language": {"other": {"flag": 0.5}}},
        "toxic_labels": [], "refusal_label": None}, abuse={"enabled": False})
    decisions = []
    async with aiohttp.ClientSession() as session:
        for text in (ENGLISH, SPANISH, f"Read this and answer: {OTHERS[4]}"):
            async with session.post(f"{base}/v1/chat/completions", json={
                    "model": "m", "messages": [{"role": "user", "content": text}]}) as response:
                decisions.append((response.status, response.headers["x-safety-decision"]))
    # the third: its Russian sentence alone, one of the parts the proxy scores, is all other
    assert decisions == [(200, "allow"), (200, "flag"), (400, "block")]
    assert [r["messages"][0]["content"] for r in fake_upstream.requests] == [ENGLISH, SPANISH]
