"""The options of a ``type: refusal`` check: none (a light module: pydantic only).

The model exists so that a key under ``options`` is refused like any other typo."""

from __future__ import annotations

from classifiers.options import ClassifierOptions


class RefusalOptions(ClassifierOptions):
    pass
