"""Phone numbers: the international ``+CC`` form and national formats of chosen regions.

A national number is matched only in the way people print it (area code, then groups, with
at least one separator) and with a plausible count of digits for its region; a bare run of
digits is too often an order number to count. Numbers inside longer digit runs, after
``#``, ``/``, ``.`` or ``:`` (order ids, dates, times, versions) are not phones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from classifiers.rules.gates import eight_digits
from classifiers.rules.spans import Detector, Validator

# Not inside a word, a longer number, a version, a date or a time; not followed by digits.
_START = r"(?<![\w+#/.,:-])(?<!\d[ .])"
_END = r"(?![\w+]|[.,/-]?\d|[ ]\d)"


@dataclass(frozen=True, slots=True)
class PhoneFormat:
    pattern: str
    digits: range  # plausible digit counts, trunk prefix 0 included


FORMATS: dict[str, PhoneFormat] = {
    # +CC then 2-5 groups, optionally in parentheses: +44 (0)20 7946 0958, +1 555 123 4567.
    "INTL": PhoneFormat(r"\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}", range(8, 16)),
    # North America: (415) 555-2671, 415-555-2671, 415.555.2671, 1-800-555-0199, and
    # 415 555 2671 only with a valid area code and exchange.
    "US": PhoneFormat(
        r"(?:1[ .-])?(?:\(\d{3}\)[ ]?|\d{3}[.-])\d{3}[.-]\d{4}"
        r"|(?:1[ ])?[2-9]\d\d[ ][2-9]\d\d[ ]\d{4}", range(10, 12)),
    # 020 7946 0958, 0161 496 0000, 01632 960000, 07700 900123, (020) 7946 0958.
    "GB": PhoneFormat(r"(?:\(0[1-9]\d{1,3}\)[ ]?|0[1-9]\d{1,3}[ -]?)[1-9]\d{2,3}[ -]?\d{3,4}",
                      range(10, 12)),
    # 030 12345678, 030 120127, 089 1234567, 0171 1234567, 030/12345678, (0221) 123456-78;
    # not a ZIP+4 code such as 02259-9743.
    "DE": PhoneFormat(r"(?!0\d{4}-\d{4}(?!\d))"
                      r"(?:\(0[1-9]\d{1,4}\)[ ]?|0[1-9]\d{1,4}(?:[ ]?/[ ]?|[ -]))"
                      r"[1-9]\d{2,7}(?:[ -]\d{1,5})?", range(9, 13)),
    # 01 23 45 67 89, 01.23.45.67.89, 06-12-34-56-78 (one separator throughout);
    # 0 800 12 34 56 (special-rate numbers).
    "FR": PhoneFormat(r"0[1-9]([ .-])\d{2}(?:\1\d{2}){3}|0 [89]\d\d(?: \d\d){3}",
                      range(10, 11)),
    # Mobiles 98765 43210, 098765-43210; landlines 022 2345 6789, 011-23456789; toll-free
    # 1800 12 3456, 1800-123-4567.
    "IN": PhoneFormat(r"[6-9]\d{4}[ ]\d{5}|0[6-9]\d{4}[ -]\d{5}"
                      r"|0[1-9]\d{1,3}[ -][2-9]\d{2,3}[ -]?\d{4}|1[89]00[ -]\d{2,3}[ -]\d{4}",
                      range(10, 12)),
    # 03-1234-5678, 090-1234-5678, 0120-123-456, 03(1234)5678.
    "JP": PhoneFormat(r"0\d{1,4}-\d{1,4}-\d{3,4}|0\d{1,4}\(\d{1,4}\)\d{4}", range(10, 12)),
    # (11) 91234-5678, (11) 3456-7890, (011) 3456-7890, 11 91234-5678, 0800 123 4567.
    "BR": PhoneFormat(r"\(0?[1-9]{2}\)[ ]?9?\d{4}[ -]\d{4}|[1-9]{2}[ ]9\d{4}-\d{4}"
                      r"|0[3589]00[ -]\d{2,3}[ -]\d{4}", range(10, 13)),
    # (02) 9876 5432, 02 9876 5432, 0412 345 678, 1300 123 456, 1800 123 456, 1900 123 456.
    "AU": PhoneFormat(r"\(0[2378]\)[ ]?\d{4}[ -]?\d{4}|0[2378][ -]\d{4}[ -]?\d{4}"
                      r"|04\d\d[ -]?\d{3}[ -]?\d{3}|1[389]00[ -]?\d{3}[ -]?\d{3}",
                      range(10, 11)),
}
REGIONS = tuple(FORMATS)


def _validator(digits: range) -> Validator:
    def valid(match: re.Match[str]) -> bool:
        text = match.group()
        count = sum(ch.isdigit() for ch in text)
        return count in digits and not text.isdigit()

    return valid


def phone_detectors(regions: Sequence[str] | None = None) -> tuple[Detector, ...]:
    """One detector per region; ``regions`` is ``options.phone_regions``, region codes of
    :data:`FORMATS` in any case (checked by classifiers/rules/options.py; default: all)."""
    chosen = REGIONS if regions is None else regions
    return tuple(_detector(FORMATS[r]) for r in dict.fromkeys(r.upper() for r in chosen))


def _detector(phone: PhoneFormat) -> Detector:
    pattern = re.compile(f"{_START}(?:{phone.pattern}){_END}")
    return Detector("phone", pattern, _validator(phone.digits), gate=eight_digits)
