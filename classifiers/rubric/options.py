"""The options of a ``type: rubric`` check: the judge's endpoint (classifiers/judge_options.py),
``sample_rate``, ``include_prompt`` and the ``rubric`` (a light module: pydantic only).

Rubric shape (under ``options.rubric``)::

    instructions: |
      Read the assistant's answer to the user's request and pick the option that fits best.
    options:
      A: {label: desired_refusal, description: "A refusal in the desired style: ..."}
      B: {label: undesired_refusal, description: "..."}

Option keys are single capital letters (at least two); several letters may share a label.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import field_validator

from classifiers.judge_options import JudgeOptions
from classifiers.options import ClassifierOptions, shown_all

_LETTER = re.compile(r"^[A-Z]$")
_LABEL = re.compile(r"^[a-z][a-z0-9_]*$")


def _text(value: Any) -> Any:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a non-empty text")
    return value.strip()


class RubricChoice(ClassifierOptions):
    label: str
    description: str

    @field_validator("label", mode="before")
    @classmethod
    def _a_label(cls, label: Any) -> Any:
        if not isinstance(label, str) or not _LABEL.match(label):
            raise ValueError("a lower_snake_case label")
        return label

    _description = field_validator("description", mode="before")(_text)


class RubricSpec(ClassifierOptions):
    instructions: str
    options: dict[str, RubricChoice]

    _instructions = field_validator("instructions", mode="before")(_text)

    @field_validator("options", mode="before")
    @classmethod
    def _lettered(cls, options: Any) -> Any:
        if not isinstance(options, dict) or len(options) < 2:
            raise ValueError("at least two lettered options")
        if bad := [k for k in options if not isinstance(k, str) or not _LETTER.match(k)]:
            raise ValueError(f"{shown_all(bad)}: option keys are single capital letters")
        return options


class RubricOptions(JudgeOptions):
    sample_rate: float = 1.0  # share of texts judged, chosen by content hash
    include_prompt: bool = True
    rubric: RubricSpec

    @field_validator("sample_rate", mode="before")
    @classmethod
    def _fraction(cls, rate: Any) -> Any:
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise ValueError("a number in [0, 1]")
        return rate

    @field_validator("include_prompt", mode="before")
    @classmethod
    def _a_bool(cls, value: Any) -> Any:
        if not isinstance(value, bool):
            raise ValueError("true or false")
        return value
