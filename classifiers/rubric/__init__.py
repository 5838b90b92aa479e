"""``type: rubric``: the GPT-4 report's rule-based reward model as a classifier.

A judge model behind any OpenAI-compatible endpoint reads the operator's rubric, the
user's prompt (``include_prompt``, output direction) and the text, and answers with one
letter; the letter's label scores 1.0, the rubric's other labels 0.0. Labels are the
rubric's labels in option order.

Options: ``base_url``, ``model``, ``api_key_env``, ``timeout_s`` (per judge call),
``max_concurrency``, ``sample_rate`` (share of texts judged, decided by content hash so
a repeated text is treated the same way; a text not sampled gets ``{}``, which the
pipeline reads as not scored), ``include_prompt`` and ``rubric`` (see
:mod:`classifiers.rubric.rubric`). Cost: one judge call per new sampled text; the proxy's
verdict cache keys a verdict on the text and its context (``reads_context``), so a
repeat under the same prompt costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from classifiers.base import ClassifierConfigError, ClassifyContext, Scores
from classifiers.judge_client import (
    JudgeBackedClassifier,
    bool_option,
    content_key,
    gather_all,
)
from classifiers.rubric.rubric import Rubric
from classifiers.rubric.verdict import parse_letter

_HASH_SPACE = 2**32


class RubricClassifier(JudgeBackedClassifier):
    type_name = "rubric"
    own_options = frozenset({"sample_rate", "include_prompt", "rubric"})

    def __init__(self, name: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        self.rubric = Rubric.from_options(self.options.get("rubric"))
        self.labels = self.rubric.labels
        self._sample_rate = _fraction(self.options.get("sample_rate", 1.0))
        self._include_prompt = bool_option(self.options, "include_prompt", True)
        self._version = "rubric:1:" + content_key(
            self._endpoint.model, self.rubric.system_message(), str(self._include_prompt))[:12]

    @property
    def version(self) -> str:
        return self._version

    async def classify(
        self, texts: Sequence[str], context: ClassifyContext | None = None
    ) -> list[Scores]:
        context = context or ClassifyContext(direction="output")
        prompt = context.prompt if self._include_prompt and context.direction == "output" else None
        return await gather_all([self._verdict(t, prompt, context) for t in texts])

    async def _verdict(self, text: str, prompt: str | None, context: ClassifyContext) -> Scores:
        key = content_key(context.direction, prompt, text)
        if not self._sampled(key):
            return {}
        messages = [
            {"role": "system", "content": self.rubric.system_message()},
            {"role": "user", "content": self.rubric.user_message(text, prompt, context.direction)},
        ]
        answer = await self._client.complete(messages, max_tokens=20)
        letters = [choice.letter for choice in self.rubric.choices]
        chosen = self.rubric.label_of(parse_letter(answer, letters, self.name))
        return {label: 1.0 if label == chosen else 0.0 for label in self.labels}

    def _sampled(self, key: str) -> bool:
        return int(key[:8], 16) < self._sample_rate * _HASH_SPACE


def _fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ClassifierConfigError(f"options.sample_rate: a number in [0, 1], got {value!r}")
    return float(value)
