"""Operator categories from the config: keyword lists and regular expressions per label.

Options shape (under the check's ``options.categories``; validated by
:class:`classifiers.rules.options.CategoryRules`)::

    banned_topics:
      keywords: [acme merger, project falcon]   # whole words/phrases
      patterns: ['\\binternal[- ]only\\b']       # Python regular expressions
      case_sensitive: false                     # default false

Keywords match as whole words (not inside a longer word) with their regex
metacharacters escaped. Patterns are the operator's own: Python's ``re`` has no
timeout, so a pattern with nested quantifiers can be slow on long texts.
"""

from __future__ import annotations

import re

from classifiers.rules.options import CategoryRules
from classifiers.rules.spans import Detector


def category_detectors(label: str, rules: CategoryRules) -> list[Detector]:
    """The detectors of one validated category (its patterns compile: the options said so)."""
    detectors = [Detector(label, re.compile(p, rules.flags)) for p in rules.patterns]
    if rules.keywords:
        alternatives = "|".join(re.escape(k) for k in sorted(rules.keywords, key=len,
                                                              reverse=True))
        keyword_pattern = rf"(?<!\w)(?:{alternatives})(?!\w)"
        detectors.append(Detector(label, re.compile(keyword_pattern, rules.flags)))
    return detectors
