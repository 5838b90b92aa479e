"""A rubric: the operator's instructions and lettered options, each mapped to a label.

Options shape (under the check's ``options.rubric``)::

    instructions: |
      Read the assistant's answer to the user's request and pick the option that fits best.
    options:
      A: {label: desired_refusal, description: "A refusal in the desired style: ..."}
      B: {label: undesired_refusal, description: "..."}

Several letters may share a label. The judge is told to answer with one letter only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from classifiers.base import ClassifierConfigError, Direction

_LETTER = re.compile(r"^[A-Z]$")
_LABEL = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Choice:
    letter: str
    label: str
    description: str


@dataclass(frozen=True, slots=True)
class Rubric:
    instructions: str
    choices: tuple[Choice, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(choice.label for choice in self.choices))

    def label_of(self, letter: str) -> str | None:
        return next((c.label for c in self.choices if c.letter == letter), None)

    @classmethod
    def from_options(cls, spec: Any) -> Rubric:
        if not isinstance(spec, Mapping) or set(spec) != {"instructions", "options"}:
            raise ClassifierConfigError("options.rubric: expected keys instructions and options")
        instructions, options = spec["instructions"], spec["options"]
        if not isinstance(instructions, str) or not instructions.strip():
            raise ClassifierConfigError("options.rubric.instructions: a non-empty text")
        if not isinstance(options, Mapping) or len(options) < 2:
            raise ClassifierConfigError("options.rubric.options: at least two lettered options")
        return cls(instructions.strip(), tuple(_choice(k, v) for k, v in options.items()))

    def system_message(self) -> str:
        listed = "\n".join(f"({c.letter}) {c.description}" for c in self.choices)
        letters = ", ".join(c.letter for c in self.choices)
        return (f"{self.instructions}\n\nOptions:\n{listed}\n\n"
                f"Reply with exactly one letter ({letters}) and nothing else.")

    def user_message(self, text: str, prompt: str | None, direction: Direction) -> str:
        if direction == "input":
            return f"[User message]\n{text}"
        if prompt is None:
            return f"[Assistant answer]\n{text}"
        return f"[User request]\n{prompt}\n\n[Assistant answer]\n{text}"


def _choice(letter: Any, spec: Any) -> Choice:
    where = f"options.rubric.options.{letter}"
    if not isinstance(letter, str) or not _LETTER.match(letter):
        raise ClassifierConfigError(f"{where}: option keys are single capital letters")
    if not isinstance(spec, Mapping) or set(spec) != {"label", "description"}:
        raise ClassifierConfigError(f"{where}: expected keys label and description")
    label, description = spec["label"], spec["description"]
    if not isinstance(label, str) or not _LABEL.match(label):
        raise ClassifierConfigError(f"{where}.label: a lower_snake_case label")
    if not isinstance(description, str) or not description.strip():
        raise ClassifierConfigError(f"{where}.description: a non-empty text")
    return Choice(letter, label, description.strip())
