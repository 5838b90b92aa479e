"""``type: rubric``: the GPT-4 report's rule-based reward model as a classifier.

A judge model behind any OpenAI-compatible endpoint reads the operator's rubric, the
user's prompt (``include_prompt``, output direction) and the text, and answers with one
letter; the letter's label scores 1.0, the rubric's other labels 0.0. Labels are the
rubric's labels in option order.

Options: ``base_url``, ``model``, ``api_key_env``, ``timeout_s`` (per judge call),
``max_concurrency``, ``sample_rate`` (share of texts judged, decided by content hash so
a repeated text is treated the same way; a text not sampled gets ``{}``, which the
pipeline reads as not scored), ``include_prompt`` and ``rubric`` (see
:mod:`classifiers.rubric.options`). Cost: one judge call per new sampled text; the proxy's
verdict cache keys a verdict on the text and its context (``reads_context``), so a
repeat under the same prompt costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from classifiers.base import ClassifyContext, Scores, content_key
from classifiers.judge_client import JudgeBackedClassifier, gather_all
from classifiers.judge_options import JudgeOptions
from classifiers.options import ClassifierOptions
from classifiers.rubric.options import RubricOptions
from classifiers.rubric.rubric import Rubric
from classifiers.rubric.verdict import parse_letter

_HASH_SPACE = 2**32


class RubricClassifier(JudgeBackedClassifier):
    type_name = "rubric"
    options_model: ClassVar[type[JudgeOptions]] = RubricOptions
    settings: RubricOptions

    def __init__(self, name: str,
                 options: ClassifierOptions | Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        self.rubric = Rubric.from_spec(self.settings.rubric)
        self.labels = self.rubric.labels
        self._sample_rate = self.settings.sample_rate
        self._include_prompt = self.settings.include_prompt
        self._version = "rubric:1:" + content_key(
            self.settings.model, self.rubric.system_message(), str(self._include_prompt))[:12]

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

