"""A scripted classifier for tests: scores chosen by trigger words, failures on demand.

Registered as ``type: scripted`` through the real registry, so tests exercise the same
config -> snapshot -> check path as production classifiers. Options:
``labels`` (list), ``triggers`` ({word: {label: score}}), ``fail`` ("raise" | "hang"),
``delay_s``. ``calls`` and ``texts_seen`` let a test count what was scored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, ClassVar

from classifiers import registry
from classifiers.base import Classifier, ClassifyContext, Scores


class ScriptedClassifier(Classifier):
    type_name = "scripted"
    instances: ClassVar[list[ScriptedClassifier]] = []

    def __init__(self, name: str, options: dict[str, Any] | None = None) -> None:
        super().__init__(name, options)
        self.labels = tuple(self.options.get("labels", ("bad",)))
        self.triggers: dict[str, dict[str, float]] = self.options.get("triggers", {})
        self.calls = 0
        self.texts_seen: list[str] = []
        self.closed = False
        ScriptedClassifier.instances.append(self)

    async def close(self) -> None:
        self.closed = True

    async def classify(self, texts: Sequence[str],
                       context: ClassifyContext | None = None) -> list[Scores]:
        self.calls += 1
        self.texts_seen.extend(texts)
        if self.options.get("delay_s"):
            await asyncio.sleep(self.options["delay_s"])
        if self.options.get("fail") == "raise":
            raise RuntimeError("scripted failure")
        if self.options.get("fail") == "hang":
            await asyncio.sleep(3600)
        return [self._score(text) for text in texts]

    def redact(self, text: str, labels: set[str]) -> tuple[str, int]:
        """Masks every trigger word that scores one of ``labels``."""
        count = 0
        for word, label_scores in self.triggers.items():
            if labels & set(label_scores) and word in text:
                count += text.count(word)
                text = text.replace(word, "[REDACTED]")
        return text, count

    def _score(self, text: str) -> Scores:
        scores = dict.fromkeys(self.labels, 0.0)
        for word, label_scores in self.triggers.items():
            if word in text:
                for label, score in label_scores.items():
                    scores[label] = max(scores[label], score)
        return scores


registry.register("scripted", "tests.support.scripted", "ScriptedClassifier")
