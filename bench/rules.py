"""What the ``rules`` detectors catch, what they flag by mistake, and what they cost.

Prints one JSON document:
- ``false_matches_per_1000_texts``: per benign data set of ``../shared/data`` (read in
  place), the texts per 1,000 in which each built-in label matched (a precision proxy:
  these prompts hold no real personal data or secrets; every match is worth a look, and
  ``--show`` prints them);
- ``recall``: the share found of generated examples per phone region, IBAN country (compact,
  grouped, lower-case, dashed), card network and secret shape, and the share of generated
  IMEIs and all-digit IBANs that wrongly yield a card;
- ``us_per_kb``: microseconds per 1,000 characters of benign text (all detectors; phone
  alone in ``us_per_kb_phone_only``), and
  ``s_per_1mb_adversarial`` for inputs built to make regular expressions backtrack;
- ``phonenumbers`` (only when that library is importable): the same precision, recall and
  cost for its PhoneNumberMatcher (leniency VALID) run once per region, for comparison; and
  ``ours_on_its_examples``, our recall on numbers that library generates and formats, a
  check that does not come from our own format list.

    python -m bench.rules [--show] [--seed 7]
    PYTHONPATH=/path/to/phonenumbers python -m bench.rules   # with the comparison
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from bench.normalize import DATA, _csv_rows, _jsonl
from classifiers.rules import RulesClassifier
from classifiers.rules.payments import IBAN_LENGTHS, luhn_valid

REGIONS = ("US", "GB", "DE", "FR", "IN", "JP", "BR", "AU")
N = 200  # generated examples per group


def digits(rng: random.Random, count: int, first: str = "0123456789") -> str:
    return rng.choice(first) + "".join(rng.choice("0123456789") for _ in range(count - 1))


# Printed formats per region, from the national numbering plans ("d": any digit).
PHONE_FORMATS = {
    "US": ["(Edd) Edd-dddd", "Edd-Edd-dddd", "Edd.Edd.dddd", "Edd Edd dddd", "1-800-Edd-dddd"],
    "GB": ["020 Eddd dddd", "0161 Edd dddd", "01632 Eddddd", "07700 Eddddd", "0800 Edd dddd",
           "(020) Eddd dddd"],
    "DE": ["030 Eddddddd", "089 Edddddd", "0171 Edddddd", "030/Eddddddd", "(0221) Edddddd",
           "06221 Eddddd"],
    "FR": ["0A dd dd dd dd", "0A.dd.dd.dd.dd", "06-dd-dd-dd-dd"],
    "IN": ["Mdddd ddddd", "0Mdddd ddddd", "0Mdddd-ddddd", "022 Eddd dddd", "011-Eddddddd"],
    "JP": ["03-Eddd-dddd", "06-Eddd-dddd", "090-Eddd-dddd", "080-dddd-dddd", "0120-Edd-ddd",
           "045-Edd-dddd"],
    "BR": ["(AA) 9dddd-dddd", "(AA) Bddd-dddd", "AA 9dddd-dddd"],
    "AU": ["(02) Eddd dddd", "03 Eddd dddd", "04dd ddd ddd", "1300 ddd ddd", "1800 ddd ddd"],
}
_FILL = {"d": "0123456789", "A": "123456789", "E": "23456789", "M": "6789", "B": "2345"}


def fill(rng: random.Random, shape: str) -> str:
    return "".join(rng.choice(_FILL[c]) if c in _FILL else c for c in shape)


def iban(rng: random.Random, country: str, letters: bool) -> str:
    bban = digits(rng, IBAN_LENGTHS[country] - 4)
    if letters:
        bban = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4)) + bban[4:]
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(numeric) % 97:02d}{bban}"


def grouped(value: str, separator: str = " ") -> str:
    return separator.join(value[i : i + 4] for i in range(0, len(value), 4))


def with_luhn(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + digits(rng, length - len(prefix) - 1)
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


CARDS = {"visa": ("4", 16), "mastercard": ("53", 16), "mastercard_2_series": ("2720", 16),
         "amex": ("37", 15), "discover": ("6011", 16), "jcb": ("3530", 16),
         "diners": ("36", 14), "unionpay": ("62", 19), "maestro": ("6759", 16)}
IMEI_TACS = ("35", "86", "01", "99", "49", "45", "30", "33", "44", "50", "51", "91", "98")


ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def secrets(rng: random.Random) -> dict[str, Callable[[], str]]:
    def token(n: int, alphabet: str = ALNUM) -> str:
        while True:
            value = "".join(rng.choice(alphabet) for _ in range(n))
            if any(c.isdigit() for c in value) or not any(c.islower() for c in alphabet):
                return value
    b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    return {
        "url_credentials": lambda: f"DATABASE_URL=postgres://app:{token(12)}@db.internal:5432/x",
        "password_assignment": lambda: f"password={token(10)}",
        "password_yaml": lambda: f"db:\n  user: app\n  password: {token(10)}\n",
        "password_json": lambda: f'{{"user": "app", "password": "{token(10)}"}}',
        "aws_secret_context": lambda: f"aws_secret_access_key = {token(40, b64)}",
        "aws_secret_next_to_id": lambda: f"AKIA{token(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567')}"
                                         f" / {token(40, b64)}",
        "azure_account_key": lambda: f"DefaultEndpointsProtocol=https;AccountName=acct;"
                                     f"AccountKey={token(86, b64)}==;EndpointSuffix=x.net",
        "azure_sas": lambda: f"https://acct.blob.core.windows.net/c?sv=2022-11-02&sig={token(43)}%3D",
        "bearer": lambda: f"Authorization: Bearer {token(32)}",
        "stripe_webhook": lambda: f"whsec_{token(32)}",
        "private_key": lambda: f"-----BEGIN PRIVATE KEY-----\n{token(64, b64)}\n-----END "
                               "PRIVATE KEY-----",
    }


def generated(rng: random.Random) -> dict[str, dict]:
    groups: dict[str, dict] = {}
    for region, shapes in PHONE_FORMATS.items():
        groups[f"phone_{region}"] = {"label": "phone", "expect": True, "texts": [
            f"Call me on {fill(rng, rng.choice(shapes))} tomorrow." for _ in range(N)]}
    countries = sorted(IBAN_LENGTHS)
    ibans = [iban(rng, c, letters=i % 2 == 1) for i, c in enumerate(countries * 3)]
    groups["iban_compact"] = {"label": "iban", "expect": True, "texts": ibans}
    groups["iban_grouped"] = {"label": "iban", "expect": True,
                              "texts": [f"pay to {grouped(v)} please" for v in ibans]}
    groups["iban_lower_case"] = {"label": "iban", "expect": True,
                                 "texts": [grouped(v).lower() for v in ibans]}
    groups["iban_dashed"] = {"label": "iban", "expect": True,
                             "texts": [grouped(v, "-") for v in ibans]}
    for network, (prefix, length) in CARDS.items():
        groups[f"card_{network}"] = {"label": "payment_card", "expect": True, "texts": [
            f"card {with_luhn(rng, prefix, length)} exp 12/29" for _ in range(N)]}
    all_digit = [iban(rng, rng.choice(countries), letters=False) for _ in range(20 * N)]
    groups["iban_digits_as_card"] = {"label": "payment_card", "expect": False, "texts": [
        f"IBAN {grouped(v) if i % 2 else v}" for i, v in enumerate(all_digit)]}
    groups["imei_as_card"] = {"label": "payment_card", "expect": False, "texts": [
        f"device {with_luhn(rng, rng.choice(IMEI_TACS), 15)}" for _ in range(5 * N)]}
    for shape, make in secrets(rng).items():
        groups[f"secret_{shape}"] = {"label": "secret", "expect": True,
                                     "texts": [make() for _ in range(N // 4)]}
    lookalikes = ["in {y} and {y2}", "costs ${p},{p3}.99", "order #{o}", "on {y}-0{m}-1{m}",
                  "at 1{m}:30:00", "version {m}.{m}.1{m}.{o}", "ZIP {z}-{z4}", "{a} + {a} = {b}",
                  "ISBN 978-{m}-{p3}-{o}-{m}", "{m}/1{m}/{y}", "serial {o}-{o}"]
    groups["phone_lookalikes"] = {"label": "phone", "expect": False, "texts": [rng.choice(
        lookalikes).format(y=rng.randint(1900, 2099), y2=rng.randint(1900, 2099),
        p=rng.randint(1, 999), p3=digits(rng, 3), o=digits(rng, 5), m=rng.randint(1, 9),
        z=digits(rng, 5), z4=digits(rng, 4), a=digits(rng, 5), b=digits(rng, 6))
        for _ in range(5 * N)]}
    return groups


def adversarial() -> dict[str, str]:
    """About 1 MB each, shaped to make a backtracking pattern try long runs repeatedly."""
    pieces = {"digits": "1", "digits_spaced": "1 ", "zero_groups": "0 12 ", "parens": "(11) ",
              "at_signs": "a@", "dots_domain": "a.", "url_userinfo": "x://a:b", "assignments":
              "password=", "password_colon": "pass: x ", "bearer": "Bearer ", "iban": "DE89 ",
              "akia": "AKIAIOSFODNN7EXAMPLE ", "begin_key": "-----BEGIN RSA PRIVATE KEY-----",
              "base64": "Ab3+", "sk": "sk-", "dashes": "1-2-", "image_open": "![a](",
              "html_open": "<img a ", "attributes": "<p src=x ", "definitions": "![x]\n[a]: "}
    return {name: piece * (1_000_000 // len(piece)) for name, piece in pieces.items()}


def _self_instruct() -> Iterator[str]:
    for name in ("seed_tasks.jsonl", "user_oriented_instructions.jsonl"):
        for task in _jsonl(DATA / "self_instruct" / name):
            inputs = [i.get("input", "") for i in task.get("instances", [])]
            yield "\n".join([task["instruction"], *inputs]).strip()


def _self_instruct_outputs() -> Iterator[str]:
    for name in ("seed_tasks.jsonl", "user_oriented_instructions.jsonl"):
        for task in _jsonl(DATA / "self_instruct" / name):
            yield from (i.get("output", "") for i in task.get("instances", []))


BENIGN: dict[str, tuple[str, Callable[[], Iterator[str]]]] = {
    "self_instruct": ("self_instruct/*.jsonl: instruction + instance inputs", _self_instruct),
    "self_instruct_outputs": ("self_instruct/*.jsonl: instance outputs", _self_instruct_outputs),
    "awesome_chatgpt_prompts": ("awesome_chatgpt_prompts/prompts_dedup.csv: prompt", lambda: (
        row["prompt"] for row in _csv_rows(DATA / "awesome_chatgpt_prompts/prompts_dedup.csv"))),
}


def benign_texts() -> dict[str, list[str]]:
    sets = {}
    for name, (_, texts) in BENIGN.items():
        try:
            sets[name] = [text for text in texts() if text]
        except FileNotFoundError:
            continue
    return sets


def false_matches(rules: RulesClassifier, sets: dict[str, list[str]], show: bool) -> dict:
    report: dict[str, object] = {}
    for name, texts in sets.items():
        hits: Counter[str] = Counter()
        for text in texts:
            for span in {s.label: s for s in rules.spans(text, rules.labels)}.values():
                hits[span.label] += 1
            if show:
                for span in rules.spans(text, rules.labels):
                    print(f"{name}\t{span.label}\t{text[max(0, span.start - 30):span.end + 30]!r}")
        report[name] = {"source": BENIGN[name][0], "texts": len(texts), **{
            label: round(1000 * hits[label] / len(texts), 2) for label in rules.labels}}
    return report


def recall(rules: RulesClassifier, rng: random.Random) -> dict[str, object]:
    found: dict[str, object] = {}
    for group, cases in generated(rng).items():
        label, want = cases["label"], cases["expect"]
        texts: list[str] = cases["texts"]
        hit = sum((rules.scores(t)[label] == 1.0) == want for t in texts)
        key = "recall" if want else "wrongly_flagged"
        found[group] = {key: round(hit / len(texts) if want else 1 - hit / len(texts), 4),
                        "examples": len(texts)}
    return found


def us_per_kb(rules: RulesClassifier, texts: list[str]) -> float:
    chars = sum(len(t) for t in texts)
    start = time.perf_counter()
    for text in texts:
        rules.scores(text)
    return round((time.perf_counter() - start) * 1e6 / (chars / 1000), 1)


def adversarial_s(rules: RulesClassifier) -> dict[str, float]:
    timings = {}
    for name, text in adversarial().items():
        start = time.perf_counter()
        rules.redact(text, rules.labels)
        timings[name] = round(time.perf_counter() - start, 3)
    return timings


def phonenumbers_figures(sets: dict[str, list[str]], rng: random.Random) -> dict | None:
    try:
        import phonenumbers  # optional: only for this comparison
    except ImportError:
        return None

    def found(text: str) -> bool:
        return any(next(iter(phonenumbers.PhoneNumberMatcher(
            text, region, leniency=phonenumbers.Leniency.VALID)), None) for region in REGIONS)

    figures: dict[str, object] = {"version": phonenumbers.__version__}
    for name, texts in sets.items():
        start = time.perf_counter()
        hits = sum(found(text) for text in texts)
        elapsed = time.perf_counter() - start
        figures[name] = {"phone_per_1000": round(1000 * hits / len(texts), 2),
                         "us_per_kb": round(elapsed * 1e6 / (sum(map(len, texts)) / 1000), 1)}
    for group, cases in generated(rng).items():
        if group.startswith("phone_"):
            texts = cases["texts"]
            figures[group] = round(sum(map(found, texts)) / len(texts), 4)
    figures["ours_on_its_examples"] = ours_on_phonenumbers_examples(phonenumbers, rng)
    return figures


def ours_on_phonenumbers_examples(pn: Any, rng: random.Random) -> dict[str, object]:
    """Recall of our detector on numbers the library formats (NATIONAL) per region: its
    example number of each type with the last four digits drawn anew, kept when valid."""
    rules = RulesClassifier("bench")
    kinds = {"fixed_line_mobile": ("FIXED_LINE", "MOBILE"), "special": (
        "TOLL_FREE", "PREMIUM_RATE", "SHARED_COST", "VOIP", "PERSONAL_NUMBER", "UAN")}
    report: dict[str, object] = {}
    for region in REGIONS:
        for kind, types in kinds.items():
            hits = total = 0
            for name in types:
                example = pn.example_number_for_type(region, getattr(pn.PhoneNumberType, name))
                for _ in range(30 if example else 0):
                    nsn = str(example.national_number)
                    number = pn.parse(nsn[:-4] + digits(rng, 4), region)
                    if pn.is_valid_number(number):
                        text = pn.format_number(number, pn.PhoneNumberFormat.NATIONAL)
                        total += 1
                        hits += rules.scores(f"Call me on {text} today.")["phone"] == 1.0
            report[f"{region}_{kind}"] = round(hits / total, 3) if total else None
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", action="store_true", help="print every benign match")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rules = RulesClassifier("bench")
    sets = benign_texts()
    all_texts = [text for texts in sets.values() for text in texts]
    print(json.dumps({
        "false_matches_per_1000_texts": false_matches(rules, sets, args.show),
        "recall": recall(rules, random.Random(args.seed)),
        "us_per_kb": us_per_kb(rules, all_texts),
        "us_per_kb_phone_only": us_per_kb(RulesClassifier("phone", {"detectors": ["phone"]}),
                                          all_texts),
        "s_per_1mb_adversarial": adversarial_s(rules),
        "phonenumbers": phonenumbers_figures(sets, random.Random(args.seed)),
        "data": str(DATA),
    }, indent=2))


if __name__ == "__main__":
    main()
