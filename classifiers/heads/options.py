"""The options of a ``type: heads`` check: which heads, whether sentences are read alone,
and the encoder's options (classifiers/semantic/options.py). A light module: pydantic, the
standard library and the names of the shipped head files.

``heads``: distinct names of shipped heads (default: every shipped head); ``sentences``:
also score each sentence and chunk of a text, the highest score winning (default true).
"""

from __future__ import annotations

from typing import Any

from pydantic import field_validator

from classifiers.heads.weights import shipped_heads
from classifiers.options import shown_all
from classifiers.semantic.options import EncoderOptions


class HeadsOptions(EncoderOptions):
    heads: list[str] | None = None
    sentences: bool = True

    @field_validator("heads", mode="before")
    @classmethod
    def _shipped(cls, names: Any) -> Any:
        if names is None:
            return None
        if not isinstance(names, list) or not names or not all(
                isinstance(n, str) for n in names) or len(set(names)) != len(names):
            raise ValueError(f"a non-empty list of distinct head names from {shipped_heads()}")
        if unknown := [n for n in names if n not in shipped_heads()]:
            raise ValueError(f"no shipped head {shown_all(unknown)}; shipped heads: "
                             f"{', '.join(shipped_heads()) or 'none'}")
        return names

    @field_validator("sentences", mode="before")
    @classmethod
    def _a_bool(cls, value: Any) -> Any:
        if not isinstance(value, bool):
            raise ValueError("true or false")
        return value
