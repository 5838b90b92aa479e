"""The options of a ``type: profanity`` check (a light module: pydantic only).

``max_batch`` texts per model call, gathered across requests; ``max_queue`` texts waiting
at most (beyond it a request fails at once and the check's ``on_error`` applies).
"""

from __future__ import annotations

from pydantic import Field

from classifiers.options import ClassifierOptions


class ProfanityOptions(ClassifierOptions):
    max_batch: int = Field(256, ge=1)
    max_queue: int = Field(8192, ge=1)
