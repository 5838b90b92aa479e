"""Rules classifier: each built-in detector with positive and near-miss cases, operator
categories, redaction, and config errors."""

from __future__ import annotations

import base64
import json
import random

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
    # JWT look-alikes alone (after "Bearer" any 20+ character token is a secret).
    "jwt " + "eyJub3Rqc29u" + "." + "eyJzdWIiOiIxIn0x" + "." + "s" * 43,
    "jwt " + jwt({"typ": "JWT"}),
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
    ({"categories": {"c": {"keyword": ["x"]}}},
     "options.categories.c.keyword: unknown option; known: case_sensitive, keywords, patterns"),
    ({"categories": {"c": {"keywords": "x"}}}, "list of non-empty strings"),
    ({"detector": ["email"]},
     "options.detector: unknown option; known: categories, detectors, image_hosts, "
     "phone_regions"),
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


# --- Phones: national formats -------------------------------------------------------------

NATIONAL_PHONES = [
    ("US", "(415) 555-2671"), ("US", "415-555-2671"), ("US", "415.555.2671"),
    ("US", "415 555 2671"), ("US", "1-800-555-0199"),
    ("GB", "020 7946 0958"), ("GB", "0161 496 0000"), ("GB", "01632 960000"),
    ("GB", "07700 900123"), ("GB", "(020) 7946 0958"), ("GB", "0800 123 4567"),
    ("DE", "030 12345678"), ("DE", "089 1234567"), ("DE", "0171 1234567"),
    ("DE", "030/12345678"), ("DE", "(0221) 1234567"), ("DE", "030 120127"),
    ("FR", "01 23 45 67 89"), ("FR", "06.12.34.56.78"), ("FR", "06-12-34-56-78"),
    ("FR", "0 801 23 45 67"),
    ("IN", "098765 43210"), ("IN", "98765 43210"), ("IN", "098765-43210"),
    ("IN", "022 2345 6789"), ("IN", "011-23456789"), ("IN", "1800 12 3456"),
    ("JP", "03-1234-5678"), ("JP", "090-1234-5678"), ("JP", "0120-123-456"),
    ("JP", "03(1234)5678"),
    ("BR", "(11) 91234-5678"), ("BR", "(11) 3456-7890"), ("BR", "11 91234-5678"),
    ("BR", "0800 123 4567"),
    ("AU", "(02) 9876 5432"), ("AU", "03 9876 5432"), ("AU", "0412 345 678"),
    ("AU", "1300 123 456"), ("AU", "1900 123 456"),
]


@pytest.mark.parametrize(("region", "number"), NATIONAL_PHONES)
def test_national_phone_found_in_its_region(region: str, number: str) -> None:
    text = f"Call me on {number}, thanks."
    assert rules(phone_regions=[region]).scores(text)["phone"] == 1.0
    assert rules().redact(text, ["phone"]) == ("Call me on [REDACTED:phone], thanks.", 1)


PHONE_LOOKALIKES = [
    "between 1999 and 2000, then 2001 2002 2003",
    "it costs $1,299.99 or 1 299,99 EUR",
    "order #0123-456-7890 and invoice 0123456789",
    "released on 2024-01-15T10:30:00Z, 15/01/2024, 01-15-2024",
    "meet at 10:30, 14:45:00 or 09.30",
    "version 10.0.19041.1234 and v2.3.4",
    "ZIP 90210-1234, 10115 Berlin, 75008 Paris, SW1A 1AA",
    "Boston, MA 02259-9743",
    "12345 + 67890 = 80235 and 100 200 300",
    "ISBN 978-0-13-110362-7",
    "call 123 456 7890 is no valid area code",
    "pi is 3.14159 26535 89793 23846",
    "serial 02227-02227",
    "coordinates 51.5074, -0.1278",
]


@pytest.mark.parametrize("text", PHONE_LOOKALIKES)
def test_numbers_that_are_not_phones(text: str) -> None:
    assert rules().scores(text)["phone"] == 0.0


def test_card_number_is_not_a_phone() -> None:
    assert flagged("card 4111 1111 1111 1111") == {"payment_card"}


def test_phone_regions_option_limits_formats() -> None:
    french = rules(phone_regions=["FR", "intl"])
    assert french.scores("01 23 45 67 89")["phone"] == 1.0
    assert french.scores("+49 30 12345678")["phone"] == 1.0
    assert french.scores("030 12345678")["phone"] == 0.0
    assert rules(phone_regions=[]).scores("+49 30 12345678")["phone"] == 0.0
    assert rules(phone_regions=["FR"]).version != rules().version


@pytest.mark.parametrize(("options", "message"), [
    ({"phone_regions": ["XX"]}, r"phone_regions: unknown \['XX'\]"),
    ({"phone_regions": "GB"}, "phone_regions: expected a list"),
])
def test_bad_phone_regions(options: dict[str, object], message: str) -> None:
    with pytest.raises(ClassifierConfigError, match=message):
        rules(**options)


# --- Secrets found by context --------------------------------------------------------------

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
AZURE_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
             "K1SZFPTOtr/KBHBeksoGMGw==")
SECRET_REDACTIONS = [
    ("DATABASE_URL=postgres://app:s3cr3t-Pw@db.internal:5432/shop",
     "DATABASE_URL=postgres://[REDACTED:secret]@db.internal:5432/shop"),
    ("redis://:Xy7pass@cache:6379/0", "redis://[REDACTED:secret]@cache:6379/0"),
    ("amqp://guest:p@ss@w0rd@rabbit/", "amqp://[REDACTED:secret]@rabbit/"),
    ("password=hunter2", "password=[REDACTED:secret]"),
    ("export PGPASSWORD='c0rrect horse'", "export PGPASSWORD='[REDACTED:secret]'"),
    ('{"user": "app", "db_password": "Tr0ub4dor&3"}',
     '{"user": "app", "db_password": "[REDACTED:secret]"}'),
    ("db:\n  user: app\n  passwd: letmein99\n", "db:\n  user: app\n  passwd: [REDACTED:secret]\n"),
    ("mysql -u root --password=letmein", "mysql -u root --password=[REDACTED:secret]"),
    ("pwd = 'abc123'", "pwd = '[REDACTED:secret]'"),
    (f"aws_secret_access_key = {AWS_SECRET}", "aws_secret_access_key = [REDACTED:secret]"),
    (f'AWS_SECRET_ACCESS_KEY: "{AWS_SECRET}"', 'AWS_SECRET_ACCESS_KEY: "[REDACTED:secret]"'),
    ("AKIA" + "IOSFODNN7EXAMPLE" + f" {AWS_SECRET}", "[REDACTED:secret] [REDACTED:secret]"),
    (f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={AZURE_KEY};"
     "EndpointSuffix=core.windows.net",
     "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=[REDACTED:secret];"
     "EndpointSuffix=core.windows.net"),
    ("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;"
     "SharedAccessKey=" + "a1B2" * 11,
     "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;"
     "SharedAccessKey=[REDACTED:secret]"),
    ("BlobEndpoint=https://a.blob.core.windows.net/;SharedAccessSignature=sv=2022-11-02&ss=b"
     "&sig=" + "Zx9" * 10 + "%3D",
     "BlobEndpoint=https://a.blob.core.windows.net/;SharedAccessSignature=[REDACTED:secret]"),
    ("GET https://a.blob.core.windows.net/c/f?sv=2022-11-02&se=2025&sig=" + "Qw3" * 12 + "%3D",
     "GET https://a.blob.core.windows.net/c/f?sv=2022-11-02&se=2025&sig=[REDACTED:secret]"),
    ("Authorization: Bearer " + "abc123def456ghi789jkl0mno",
     "Authorization: Bearer [REDACTED:secret]"),
    ("stripe " + "whsec_" + "a1B2c3D4" * 4, "stripe [REDACTED:secret]"),
    ("slack " + "xapp-1-" + "A0123BCDEF-1234567890", "slack [REDACTED:secret]"),
    ("google " + "GOCSPX-" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4", "google [REDACTED:secret]"),
    ("google " + "ya29." + "a0AfH6SMB" * 3, "google [REDACTED:secret]"),
]


@pytest.mark.parametrize(("text", "masked"), SECRET_REDACTIONS)
def test_secret_found_and_masked(text: str, masked: str) -> None:
    assert "secret" in flagged(text)
    assert rules().redact(text, ["secret"])[0] == masked


SECRET_NEAR_MISSES = [
    "Choose a strong password: it should have 12 characters.",
    "Your password is hunter2, keep it safe.",  # prose without an assignment: not matched
    "the password field, passwords and passwd files",
    "password=<your password>",
    "password = ${DB_PASSWORD}",
    "password: {{ vault_password }}",
    "password='********'",
    "PASSWORD=your_password_here",
    "password = input('Password: ')",
    "password = getpass.getpass()",
    "password = request.form['password']",
    "password = user_input",
    "password_hash = bcrypt.hashpw(pw, salt)",
    "    password: str\n    password: Optional[str] = None",
    "bypass=true, compass=north",
    "postgres://user:password@localhost:5432/db",
    "postgres://user:<password>@localhost/db",
    "https://example.com/path?next=a@b",
    "Authorization: Bearer <token>",
    "Authorization: Bearer $OPENAI_API_KEY",
    "Authorization: Bearer YOUR_ACCESS_TOKEN_HERE",
    "bearer bonds and the bearer of bad news",
    "aws_secret_access_key = " + "a" * 40,  # one case only: not a random key
    "git commit " + "0123456789abcdef" * 2 + "01234567",
    "AccountKey=<key>; sig=abc",
]


@pytest.mark.parametrize("text", SECRET_NEAR_MISSES)
def test_secret_near_misses(text: str) -> None:
    assert "secret" not in flagged(text)


def test_url_credentials_are_no_email() -> None:
    text = "connect to postgres://admin:s3cr3t@db.example.com:5432/app"
    assert flagged(text) == {"secret"}
    assert flagged("ssh://git@github.com/org/repo.git") == set()
    assert flagged("mailto:jane@example.com") == {"email"}
    assert flagged("see http://example.com jane@example.com") == {"email"}
    masked, count = rules().redact(text + " or jane@example.com", ["secret", "email"])
    assert masked == ("connect to postgres://[REDACTED:secret]@db.example.com:5432/app"
                      " or [REDACTED:email]")
    assert count == 2


# --- Cards: IMEIs and IBAN digits are not cards ---------------------------------------------

TEST_CARDS = ["4111111111111111", "4222222222222", "5555555555554444", "2223003122003222",
              "378282246310005", "371449635398431", "6011111111111117", "3530111333300000",
              "30569309025904", "36227206271667", "6200000000000005", "6759649826438453",
              "2200000000000004"]


@pytest.mark.parametrize("number", TEST_CARDS)
def test_issuer_test_cards_still_found(number: str) -> None:
    grouped = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    assert rules().scores(f"card {number}")["payment_card"] == 1.0
    assert rules().scores(f"card {grouped} exp 12/29")["payment_card"] == 1.0


def luhn_complete(body: str) -> str:
    from classifiers.rules.payments import luhn_valid

    return next(body + d for d in "0123456789" if luhn_valid(body + d))


IMEIS = ["356938035643809", "353918057129454", "862345678901234"[:14], "013457003945870"[:14],
         "990000862471854"[:14], "502034375184936"[:14], "300012345678901"[:14],
         "451234567890123"[:14], "490154203237518"[:14]]


@pytest.mark.parametrize("imei", IMEIS)
def test_imei_is_no_card(imei: str) -> None:
    number = imei if len(imei) == 15 else luhn_complete(imei)
    assert len(number) == 15
    assert rules().scores(f"my phone {number}")["payment_card"] == 0.0
    assert rules().scores(f"IMEI: {number}")["payment_card"] == 0.0


def test_card_after_imei_word_is_no_card() -> None:
    assert rules().scores("IMEI 4111111111111111")["payment_card"] == 0.0
    assert rules().scores("device id 4111111111111111")["payment_card"] == 0.0


# --- IBANs ---------------------------------------------------------------------------------

def make_iban(country: str, seed: int, letters: bool = False) -> str:
    from classifiers.rules.payments import IBAN_LENGTHS

    rng = random.Random(seed)
    bban = "".join(rng.choice("0123456789") for _ in range(IBAN_LENGTHS[country] - 4))
    if letters:
        bban = "ABCD" + bban[4:]
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(numeric) % 97:02d}{bban}"


def group4(value: str, separator: str = " ") -> str:
    return separator.join(value[i : i + 4] for i in range(0, len(value), 4))


def all_countries() -> list[str]:
    from classifiers.rules.payments import IBAN_LENGTHS

    return sorted(IBAN_LENGTHS)


def test_iban_table_is_the_full_registry() -> None:
    countries = all_countries()
    assert len(countries) == 89
    assert {"RU", "LC", "SC", "YE", "VA", "BY", "IQ", "SV", "MN", "OM"} <= set(countries)


@pytest.mark.parametrize("country", all_countries())
def test_every_iban_country_in_every_print_form(country: str) -> None:
    compact = make_iban(country, seed=len(country) + ord(country[0]), letters=True)
    for form in (compact, group4(compact), group4(compact).lower(), group4(compact, "-")):
        assert rules().redact(f"pay to {form} today", ["iban"]) == (
            "pay to [REDACTED:iban] today", 1), form
    broken = compact[:2] + f"{(int(compact[2:4]) + 1) % 100:02d}" + compact[4:]
    assert rules().scores(broken)["iban"] == 0.0


def test_iban_followed_by_a_word_is_cut_at_its_length() -> None:
    assert rules().redact("BE68 5390 0754 7034 from me", ["iban"]) == (
        "[REDACTED:iban] from me", 1)
    assert rules().redact("de89 3704 0044 0532 0130 00, thanks", ["iban"]) == (
        "[REDACTED:iban], thanks", 1)


def test_iban_digits_are_no_card() -> None:
    countries = [c for c in all_countries() if c not in ("NO",)]
    for seed in range(2000):
        iban = make_iban(countries[seed % len(countries)], seed)
        text = f"IBAN {group4(iban) if seed % 2 else iban}"
        assert flagged(text) == {"iban"}, text
    assert flagged("typo DE00 3704 0044 0532 0130 00") == set()


# --- Linear time ---------------------------------------------------------------------------

ADVERSARIAL_PIECES = ["1", "1 ", "0 12 ", "(11) ", "a@", "x://a:b", "password=", "pass: x ",
                      "Bearer ", "DE89 ", "AKIAIOSFODNN7EXAMPLE ", "Ab3+", "sk-", "1-2-",
                      "-----BEGIN RSA PRIVATE KEY-----", "a."]


def test_one_megabyte_adversarial_input_completes() -> None:
    run = 1_000_000 // len(ADVERSARIAL_PIECES)
    text = "".join(piece * (run // len(piece)) for piece in ADVERSARIAL_PIECES)
    assert len(text) > 990_000
    classifier = rules()
    masked, _ = classifier.redact(text, classifier.labels)
    assert classifier.scores(text)["secret"] == 1.0  # the unterminated private key
    assert masked
