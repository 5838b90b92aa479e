"""A rubric: the operator's instructions and lettered options, each mapped to a label.

Built from the validated ``options.rubric`` (classifiers/rubric/options.py says its shape).
Several letters may share a label. The judge is told to answer with one letter only.
"""

from __future__ import annotations

from dataclasses import dataclass

from classifiers.base import Direction
from classifiers.rubric.options import RubricSpec


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
    def from_spec(cls, spec: RubricSpec) -> Rubric:
        return cls(spec.instructions, tuple(Choice(letter, choice.label, choice.description)
                                            for letter, choice in spec.options.items()))

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

