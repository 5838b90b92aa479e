"""Offline toxicity from the linear model that ``alt-profanity-check`` ships.

The package's model is a TF-IDF vectorizer and a 5-fold ``CalibratedClassifierCV`` over
``LinearSVC`` with sigmoid calibration. Its vocabulary, idf and weights are exported once
into this package's data (:mod:`classifiers.profanity_model`, MIT notice beside them) and
evaluated in NumPy: the folds become one matrix product whose sigmoids are averaged,
which gives ``predict_proba``'s scores (tested equal on thousands of texts) without
importing scikit-learn, SciPy or joblib; concurrent calls are micro-batched onto one thread,
and a short call that finds that thread idle is scored in the caller (``classify_now``).

Label: ``profane`` (probability that the text is offensive). Options: profanity_options.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from classifiers.base import ClassifyContext, InProcessClassifier, Scores
from classifiers.batching import MicroBatcher
from classifiers.options import ClassifierOptions, settings_of
from classifiers.profanity_model import CalibratedLinearTfidf, packaged_data
from classifiers.profanity_options import ProfanityOptions


class LinearProfanityModel:
    """The packaged model, evaluated directly. ``predict`` is thread-safe (read-only)."""

    def __init__(self, model: CalibratedLinearTfidf) -> None:
        self.model = model

    @classmethod
    def load_packaged(cls) -> LinearProfanityModel:
        return cls(CalibratedLinearTfidf.load(packaged_data()))

    def predict(self, texts: list[str]) -> list[float]:
        """The probability that each text is profane, in order."""
        probabilities: list[float] = self.model.predict_proba(texts).tolist()
        return probabilities


class ProfanityClassifier(InProcessClassifier):
    type_name = "profanity"
    labels = ("profane",)

    def __init__(self, name: str,
                 options: ClassifierOptions | Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        self.settings = settings_of(ProfanityOptions, name, self.type_name, options)
        self._batcher: MicroBatcher[float] | None = None

    @property
    def version(self) -> str:
        return "profanity:alt-profanity-check-linear:1"

    async def start(self) -> None:
        model = await asyncio.to_thread(LinearProfanityModel.load_packaged)
        self._batcher = MicroBatcher(
            model.predict,
            name=self.name,
            max_batch=self.settings.max_batch,
            max_queue=self.settings.max_queue,
            inline_max_chars=self.settings.inline_max_chars,
            on_batch=self.observe_batch,
        )
        self._batcher.start()

    async def close(self) -> None:
        if self._batcher is not None:
            await self._batcher.close()

    def scores_now(self, texts: Sequence[str]) -> bool:
        """A short call while the model's thread is idle (``inline_max_chars``)."""
        return self._batcher is not None and self._batcher.runs_inline(texts)

    def classify_now(
        self, texts: Sequence[str], context: ClassifyContext | None = None
    ) -> list[Scores]:
        assert self._batcher is not None, "start() was not awaited"
        return [{"profane": p} for p in self._batcher.score_inline(texts)]

    async def classify(
        self, texts: Sequence[str], context: ClassifyContext | None = None
    ) -> list[Scores]:
        assert self._batcher is not None, "start() was not awaited"
        probabilities = await self._batcher.submit(texts)
        return [{"profane": p} for p in probabilities]
