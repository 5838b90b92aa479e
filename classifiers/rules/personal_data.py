"""Built-in detectors for personal data: e-mail, phone, payment card, IBAN, US SSN.

Each pattern finds candidates and a validator rejects what cannot be real (a card number
failing Luhn or outside the issuers' ranges and lengths, an IBAN failing mod-97 or its
country's length, an SSN in a never-issued range), so ordinary numbers are not flagged.
"""

from __future__ import annotations

import re

from classifiers.rules.gates import eight_digits
from classifiers.rules.payments import IBAN, PAYMENT_CARD
from classifiers.rules.phones import phone_detectors
from classifiers.rules.spans import Detector

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]{1,64}+@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24}\b")
# The user-info of a URL authority (scheme://user:password@host) is a credential, not an
# address: the text since the last blank holds "://" and no "/" after it.
_AUTHORITY = re.compile(r"://[^\s/]*\Z")


def _not_url_userinfo(match: re.Match[str]) -> bool:
    before = match.string[max(0, match.start() - 300) : match.start()]
    if not before or before[-1].isspace():
        return True
    return not _AUTHORITY.search(before.split()[-1])


EMAIL = Detector("email", _EMAIL, _not_url_userinfo, gate=lambda text: "@" in text)

# Area 000, 666 and 900-999, group 00 and serial 0000 are never issued.
_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-])")
US_SSN = Detector("us_ssn", _SSN, gate=eight_digits)

PERSONAL_DATA: dict[str, tuple[Detector, ...]] = {
    "email": (EMAIL,),
    "phone": phone_detectors(),
    "payment_card": (PAYMENT_CARD,),
    "iban": (IBAN,),
    "us_ssn": (US_SSN,),
}
