"""Built-in detectors for personal data: e-mail, phone, payment card, IBAN, US SSN.

Each pattern finds candidates and a validator rejects what cannot be real (a card number
failing Luhn or outside the issuers' ranges, an IBAN failing mod-97 or its country's
length, an SSN in a never-issued range), so ordinary numbers are not flagged.
"""

from __future__ import annotations

import re

from classifiers.rules.spans import Detector

EMAIL = Detector(
    "email",
    re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24}\b"),
)

# International (+CC ...) or North-American (555) 123-4567 / 555-123-4567 forms; a bare
# run of digits is too often an order number to count as a phone.
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}"
    r"|(?:\(\d{3}\) ?|\d{3}[.-])\d{3}[.-]\d{4}"
    r")(?![\w-])"
)


def _phone_digits_plausible(match: re.Match[str]) -> bool:
    digits = sum(ch.isdigit() for ch in match.group())
    return 8 <= digits <= 15 if match.group().startswith("+") else digits == 10


PHONE = Detector("phone", _PHONE, _phone_digits_plausible)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


# Issuer prefixes (IIN ranges) of the major networks: Visa, Mastercard, Amex, Discover,
# JCB, Diners, UnionPay, Maestro.
_CARD_ISSUER = re.compile(
    r"4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|6(?:011|5|4[4-9]|2)|35|3(?:0[0-5]|[68])|5[06-8]|6"
)
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")


def _card_valid(match: re.Match[str]) -> bool:
    digits = re.sub(r"[ -]", "", match.group())
    return bool(_CARD_ISSUER.match(digits)) and luhn_valid(digits)


PAYMENT_CARD = Detector("payment_card", _CARD, _card_valid)

# Lengths per country (ISO 13616 registry); a code not listed is not treated as an IBAN.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20,
    "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18,
    "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30,
    "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
    "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28,
    "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24,
    "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}
# Compact or printed in groups of four separated by single spaces.
_IBAN = re.compile(
    r"\b[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?)\b"
)


def iban_valid(candidate: str) -> bool:
    compact = candidate.replace(" ", "")
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


IBAN = Detector("iban", _IBAN, lambda match: iban_valid(match.group()))

# Area 000, 666 and 900-999, group 00 and serial 0000 are never issued.
_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-])")
US_SSN = Detector("us_ssn", _SSN)

PERSONAL_DATA = (EMAIL, PHONE, PAYMENT_CARD, IBAN, US_SSN)
