"""The options of a ``type: profanity`` check (a light module: pydantic only).

``max_batch`` texts per model call, gathered across requests; ``max_queue`` texts waiting
at most (beyond it a request fails at once and the check's ``on_error`` applies);
``inline_max_chars``: a call of at most this many characters that finds the model idle is
scored at once on the event loop rather than handed to the model's thread (the NumPy model
scores 2,000 characters in about 0.13 ms, less than the hand-off; 0: always hand off).
"""

from __future__ import annotations

from pydantic import Field

from classifiers.options import ClassifierOptions


class ProfanityOptions(ClassifierOptions):
    max_batch: int = Field(256, ge=1)
    max_queue: int = Field(8192, ge=1)
    inline_max_chars: int = Field(2000, ge=0)
