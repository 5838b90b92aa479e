"""Example sets shipped with ``type: semantic``, loadable by name as ``builtin:NAME``.

- ``builtin:jailbreak``: our own paraphrases of the known jailbreak techniques, grouped in
  families (see :mod:`classifiers.semantic.builtin.jailbreak`);
- ``builtin:benign``: ordinary prompts that look like jailbreaks on the surface (role-play,
  "act as", answer-format rules, fiction, alarming words used harmlessly), the default
  contrast set of ``builtin:jailbreak``.

Each set is a text in a small format: ``## family: NAME`` starts a family, every other
non-empty line not starting with ``#`` is one example. :mod:`.heldout` holds paraphrases
kept out of the shipped sets to choose thresholds on; it cannot be loaded by name.
"""

from __future__ import annotations

from functools import cache

from classifiers.semantic.builtin import benign, jailbreak

PREFIX = "builtin:"
_TEXTS = {"jailbreak": jailbreak.TEXT, "benign": benign.TEXT}
NAMES = tuple(sorted(_TEXTS))


def parse_families(text: str) -> dict[str, list[str]]:
    families: dict[str, list[str]] = {}
    current = "examples"
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("## family:"):
            current = line.removeprefix("## family:").strip()
            families.setdefault(current, [])
        elif line and not line.startswith("#"):
            families.setdefault(current, []).append(line)
    return families


@cache
def families(name: str) -> dict[str, list[str]]:
    """The named set's examples by family; KeyError for an unknown name."""
    return parse_families(_TEXTS[name])


def examples(name: str) -> list[str]:
    return [text for group in families(name).values() for text in group]
