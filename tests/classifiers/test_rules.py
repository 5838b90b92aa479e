"""Rules classifier: each built-in detector with positive and near-miss cases, operator
categories, redaction, and config errors."""

from __future__ import annotations

import base64
import json

import aiohttp
import pytest

from classifiers import registry
from classifiers.base import ClassifierConfigError
from classifiers.rules import RulesClassifier
from proxy.config.loader import ConfigError, parse
from proxy.config.snapshot import build_snapshot


def rules(**options: object) -> RulesClassifier:
    classifier = registry.build("rules", "pii", options)
    assert isinstance(classifier, RulesClassifier)
    return classifier


def flagged(text: str) -> set[str]:
    return {label for label, score in rules().scores(text).items() if score == 1.0}


def jwt(header: object) -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    payload = part(json.dumps({"sub": "1234567890", "name": "Jane"}).encode())
    return f"{part(json.dumps(header).encode())}.{payload}.{'s' * 43}"


# Token fixtures are assembled at run time so no secret-shaped literal sits in the repo.
POSITIVE = [
    ("write to john.doe+news@example.co.uk today", "email"),
    ("call +1 555 123 4567", "phone"),
    ("call (555) 123-4567 now", "phone"),
    ("office 555.123.4567", "phone"),
    ("London +44 20 7946 0958", "phone"),
    ("card 4111 1111 1111 1111 exp 12/29", "payment_card"),
    ("mc 5555555555554444", "payment_card"),
    ("amex 3782-822463-10005", "payment_card"),
    ("pay to DE89 3704 0044 0532 0130 00 please", "iban"),
    ("GB82WEST12345698765432", "iban"),
    ("ssn 123-45-6789", "us_ssn"),
    ("key " + "sk-proj-" + "Ab3" * 15, "secret"),
    ("key " + "sk-" + "x9Y" * 16, "secret"),
    ("aws " + "AKIA" + "IOSFODNN7EXAMPLE", "secret"),
    ("token " + "ghp_" + "a1B2" * 9, "secret"),
    ("slack " + "xoxb-" + "1234567890-abcdefghij", "secret"),
    ("google " + "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "secret"),
    ("stripe " + "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "secret"),
    ("bearer " + jwt({"alg": "HS256", "typ": "JWT"}), "secret"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "secret"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXkt (truncated", "secret"),
]

NEGATIVE = [
    "mail me at user@localhost or @handle",
    "version 1.2.3.4 released 2024-01-15",
    "extension 555-1234",
    "+12 is not a number",
    "card 4111 1111 1111 1112 fails Luhn",
    "order 9999999999999995 passes Luhn but no issuer starts with 9",
    "DE89 3704 0044 0532 0130 01 has a bad checksum",
    "ZZ89 3704 0044 0532 0130 00 is no country",
    "000-12-3456 666-12-3456 900-12-3456 123-00-4567 123-45-0000 123-45 6789",
    "short " + "sk-" + "test" + " and task-" + "x" * 40,
    "aws " + "AKIA" + "IOSFODNN7EXAMP",
    "token " + "ghp_" + "a1B2" * 8 + "abc",
    "google " + "AIza" + "Sy",
    "stripe test key " + "sk_test_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "bearer " + "eyJub3Rqc29u" + "." + "eyJzdWIiOiIxIn0x" + "." + "s" * 43,
    "bearer " + jwt({"typ": "JWT"}),
    "-----BEGIN PUBLIC KEY-----\nMIIBIjAN\n-----END PUBLIC KEY-----",
]


@pytest.mark.parametrize(("text", "label"), POSITIVE)
def test_detector_finds(text: str, label: str) -> None:
    assert label in flagged(text)


@pytest.mark.parametrize("text", NEGATIVE)
def test_detector_near_miss_is_clean(text: str) -> None:
    assert flagged(text) == set()


async def test_classify_scores_every_label_per_text() -> None:
    classifier = rules(detectors=["email", "us_ssn"])
    assert classifier.labels == ("email", "us_ssn")
    results = await classifier.classify(["a@example.com", "nothing here"])
    assert results == [{"email": 1.0, "us_ssn": 0.0}, {"email": 0.0, "us_ssn": 0.0}]


def test_redact_masks_spans_of_chosen_labels_only() -> None:
    text = "Mail a@example.com or b@example.org, card 4111111111111111, ssn 123-45-6789."
    masked, count = rules().redact(text, ["email", "payment_card"])
    assert masked == (
        "Mail [REDACTED:email] or [REDACTED:email], card [REDACTED:payment_card], "
        "ssn 123-45-6789.")
    assert count == 3


def test_redact_without_matches_returns_text_unchanged() -> None:
    assert rules().redact("nothing to hide", ["email", "no_such_label"]) == ("nothing to hide", 0)


def test_redact_truncated_private_key_hides_to_the_end() -> None:
    text = "here:\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI"
    assert rules().redact(text, ["secret"]) == ("here:\n[REDACTED:secret]", 1)


def test_overlapping_spans_merge_into_one_mask() -> None:
    classifier = rules(detectors=[], categories={
        "project": {"keywords": ["falcon"], "patterns": [r"project \w+"]}})
    assert classifier.redact("see project falcon now", ["project"]) == (
        "see [REDACTED:project] now", 1)


def test_categories_keywords_whole_words_and_case() -> None:
    classifier = rules(detectors=[], categories={
        "topic": {"keywords": ["acme merger", "c++"]},
        "code": {"patterns": ["INTERNAL-[0-9]+"], "case_sensitive": True},
    })
    assert classifier.labels == ("topic", "code")
    assert classifier.scores("the ACME Merger is secret") == {"topic": 1.0, "code": 0.0}
    assert classifier.scores("acme mergers and c++") == {"topic": 1.0, "code": 0.0}
    assert classifier.scores("acme mergerx") == {"topic": 0.0, "code": 0.0}
    assert classifier.scores("internal-7 INTERNAL-8") == {"topic": 0.0, "code": 1.0}


@pytest.mark.parametrize(("options", "message"), [
    ({"detectors": ["email", "passport"]}, "unknown ['passport']"),
    ({"categories": {"email": {"keywords": ["x"]}}}, "clash with built-in"),
    ({"categories": {"Bad-Name": {"keywords": ["x"]}}}, "lower_snake_case"),
    ({"categories": {"c": {"patterns": ["("]}}}, "invalid regular expression '('"),
    ({"categories": {"c": {}}}, "at least one keyword or pattern"),
    ({"categories": {"c": {"keyword": ["x"]}}}, "expected a mapping with keys"),
    ({"categories": {"c": {"keywords": "x"}}}, "list of non-empty strings"),
    ({"detector": ["email"]}, "unknown options ['detector']"),
])
def test_bad_options_raise_config_error(options: dict[str, object], message: str) -> None:
    with pytest.raises(ClassifierConfigError, match=message.replace("(", r"\(").replace(
            "[", r"\[").replace("]", r"\]")):
        rules(**options)


def test_version_changes_with_options() -> None:
    assert rules().version != rules(detectors=["email"]).version
    assert rules().version == rules().version


CONFIG = """
upstream: {base_url: "http://127.0.0.1:9/v1"}
checks:
  - name: pii
    type: rules
    directions: [input]
    options:
      categories:
        falcon: {keywords: [project falcon]}
policy:
  input:
    pii: {falcon: {block: 0.5}, %s: {flag: 0.5}}
"""


async def test_config_policy_labels_come_from_options() -> None:
    snapshot = await build_snapshot(parse((CONFIG % "email").encode(), "test.yaml"))
    try:
        assert "falcon" in snapshot.checks[0].classifier.labels
    finally:
        await snapshot.close()
    with pytest.raises(ConfigError, match="unknown label"):
        await build_snapshot(parse((CONFIG % "passport").encode(), "test.yaml"))


async def send(base: str, content: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(
        f"{base}/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": content}]},
    ) as response:
        return response.status, response.headers["x-safety-decision"]


async def test_redacted_personal_data_reaches_upstream_masked(start_proxy, fake_upstream):
    rules_check = {"name": "pii", "type": "rules", "directions": ["input"],
                   "options": {"detectors": ["email", "payment_card", "secret"]}}
    base, _ = await start_proxy(checks=[rules_check], policy={
        "input": {"pii": {"email": {"redact": 0.5}, "payment_card": {"redact": 0.5},
                          "secret": {"block": 0.5}}},
        "output": {}, "toxic_labels": [], "refusal_label": None})
    assert await send(base, "card 4111 1111 1111 1111, mail a@example.com") == (200, "flag")
    sent = fake_upstream.requests[0]["messages"][0]["content"]
    assert sent == "card [REDACTED:payment_card], mail [REDACTED:email]"
    assert await send(base, "key " + "AKIA" + "IOSFODNN7EXAMPLE") == (400, "block")
    assert await send(base, "nothing personal") == (200, "allow")
    assert len(fake_upstream.requests) == 2
    assert fake_upstream.requests[1]["messages"][0]["content"] == "nothing personal"
