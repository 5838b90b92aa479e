"""Payment cards and IBANs.

A card number must pass Luhn, start like a real issuer's and have one of that issuer's
lengths. Only American Express (34, 37) issues 15 digits, which no IMEI reporting body
uses: so a 15-digit IMEI (Luhn-valid, type allocation codes 35, 86, 01, 50...) is no card,
nor is a number right after the word IMEI, MEID, serial or device, nor the digits inside
an IBAN. An IBAN
must name a country of the SWIFT registry, have that country's length and pass mod-97; it
may be lower-case, compact, or grouped with spaces or dashes.
"""

from __future__ import annotations

import re

from classifiers.rules.gates import eight_digits, iban_body
from classifiers.rules.spans import Detector


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


# Issuer prefixes (IIN ranges) and the lengths each network issues.
_ISSUERS: tuple[tuple[str, range | tuple[int, ...]], ...] = (
    (r"4", range(13, 20, 3)),  # Visa: 13, 16, 19
    (r"5[1-5]|2(?:2[2-9]\d|[3-6]\d\d|7[01]\d|720)", range(16, 17)),  # Mastercard
    (r"3[47]", range(15, 16)),  # American Express
    (r"6(?:011|4[4-9]|5)", range(16, 20)),  # Discover
    (r"35(?:2[89]|[3-8]\d)", range(16, 20)),  # JCB 3528-3589
    (r"3(?:0[0-5]|095|[689])", (14, 16, 17, 18, 19)),  # Diners Club (no 15: IMEIs)
    (r"62", range(16, 20)),  # UnionPay
    (r"5018|5020|5038|5893|6304|6759|676[1-3]", (13, 14, 16, 17, 18, 19)),  # Maestro
    (r"220[0-4]", range(16, 20)),  # Mir
)
_ISSUER_PATTERNS = tuple((re.compile(prefix), lengths) for prefix, lengths in _ISSUERS)
_CARD = re.compile(r"(?<![\w-])(?<!\d[ -])\d(?:[ -]?\d){12,18}+(?![\w-])")
_DEVICE_CONTEXT = re.compile(r"(?i)\b(?:imei|imeisv|meid|serial|device)\b")


def card_number_valid(digits: str) -> bool:
    issued = any(p.match(digits) and len(digits) in lengths for p, lengths in _ISSUER_PATTERNS)
    return issued and luhn_valid(digits)


def _card_valid(match: re.Match[str]) -> bool:
    if not card_number_valid(re.sub(r"[ -]", "", match.group())):
        return False
    before = match.string[max(0, match.start() - 24) : match.start()]
    return not _DEVICE_CONTEXT.search(before) and not _inside_iban(match)


PAYMENT_CARD = Detector("payment_card", _CARD, _card_valid, gate=eight_digits)

# Lengths per country: the SWIFT IBAN registry (ISO 13616), the 89 countries that
# python-stdnum 2.2's iban.dat lists. A code not listed is not treated as an IBAN.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}
# Compact, or printed in groups of four separated by one space or dash. A candidate may run
# on into the next word ("... 7034 from"): the resolver cuts it at the country's length.
_IBAN = re.compile(
    r"(?<![\w-])[A-Z]{2}\d{2}"
    r"(?:[A-Z0-9]{11,30}+|(?:[ -]?[A-Z0-9]{4}){2,8}+(?:[ -]?[A-Z0-9]{1,3})?)",
    re.IGNORECASE,
)


def iban_end(match: re.Match[str]) -> int | None:
    """Where an IBAN of the candidate's country ends (on a group boundary), else None."""
    expected = IBAN_LENGTHS.get(match.group()[:2].upper())
    if expected is None:
        return None
    count = 0
    text = match.string
    for index in range(match.start(), match.end()):
        if text[index].isalnum():
            count += 1
            if count == expected:
                end = index + 1
                return end if end == len(text) or not text[end].isalnum() else None
    return None


def mod97_valid(compact: str) -> bool:
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def iban_valid(candidate: str) -> bool:
    compact = re.sub(r"[ -]", "", candidate).upper()
    return IBAN_LENGTHS.get(compact[:2]) == len(compact) and mod97_valid(compact)


def _iban_span(match: re.Match[str]) -> tuple[int, int] | None:
    end = iban_end(match)
    if end is None or not iban_valid(match.string[match.start() : end]):
        return None
    return match.start(), end


def _inside_iban(card: re.Match[str]) -> bool:
    """True when the card candidate overlaps an IBAN-shaped run (country and length right,
    checksum not required: a mistyped IBAN is still no card)."""
    start = max(0, card.start() - 48)
    for match in _IBAN.finditer(card.string, start, card.end() + 48):
        end = iban_end(match)
        if end is not None and match.start() < card.end() and card.start() < end:
            return True
    return False


IBAN = Detector("iban", _IBAN, resolve=_iban_span, gate=iban_body)
