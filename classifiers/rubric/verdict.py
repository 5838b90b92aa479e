"""Reading the judge's answer: strict about meaning, tolerant about form.

Accepted: a bare letter ("B", "(B)", "B.", "**B**"), a labelled letter ("Answer: B",
"The answer is (B)", "Option B"), a letter opening an explanation ("(B) because ..."),
a bare letter on the last line after reasoning, or JSON ({"answer": "B"}, also under
letter/choice/option/verdict). The letter must be
one of the rubric's; an answer naming two different letters, or none, is unparseable
and raises ClassifierError. Error messages never quote the answer (it may echo the
conversation).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection

from classifiers.base import ClassifierError

_BARE = re.compile(r"^\(?([A-Z])\)?[.)]?$")
_OPENING = re.compile(r"^\(?([A-Z])(?:\)|\.|:|\s-)\s")
_LABELLED = re.compile(
    r"\b(?i:answer|choice|option|verdict|category|grade)\s*(?i:is|would be)?\s*[:=]?\s*"
    r"\(?([A-Z])\)?(?![A-Za-z])"
)
_JSON_KEYS = ("answer", "letter", "choice", "option", "verdict")


def _from_json(text: str) -> str | None:
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    values = [data[key] for key in _JSON_KEYS if isinstance(data.get(key), str)]
    return values[0].strip() if values else None


def _candidates(text: str) -> set[str]:
    if bare := _BARE.match(text):
        return {bare.group(1)}
    labelled = {m.group(1) for m in _LABELLED.finditer(text)}
    if labelled:
        return labelled
    if opening := _OPENING.match(text):
        return {opening.group(1)}
    last_line = _BARE.match(text.splitlines()[-1].strip()) if text else None
    return {last_line.group(1)} if last_line else set()


def parse_letter(answer: str, letters: Collection[str], source: str) -> str:
    text = re.sub(r"^json\s*", "", re.sub(r"[*`_]", "", answer).strip(), flags=re.IGNORECASE)
    text = _from_json(text) or text
    found = _candidates(text)
    if len(found) == 1 and (letter := found.pop()) in letters:
        return letter
    raise ClassifierError(
        f"{source}: unparseable judge answer ({len(answer)} chars); expected one of "
        f"{', '.join(letters)}")
