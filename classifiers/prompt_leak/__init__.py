"""``type: prompt_leak``: does an answer give away the operator's instructions?

Labels, for answers (the ``output`` direction) only:

- ``verbatim``: the longest run of consecutive words the answer shares with the request's
  instructions (its messages of ``options.roles``: ``system`` and ``developer`` by default;
  the dialects put OpenAI's system and developer messages, the Responses ``instructions``
  and Anthropic's ``system`` there), over ``options.run_words``, capped at 1.0. 0.0 when
  the instructions have fewer than ``options.min_instruction_words`` words, or there are
  none (legacy completions, a stored prompt the proxy cannot see).
- ``canary``: 1.0 when the answer holds one of ``options.canaries``, else 0.0. A canary
  needs no instructions in the request: it is found wherever the prompt came from.

Words are compared in canonical form (``words``: the skeleton of classifiers/skeleton.py,
case-folded, accents removed, punctuation and spacing ignored), so case, spacing,
zero-width characters, look-alike letters and changed punctuation do not hide a leak. The
pipeline also hands the check the answer's canonical views (leetspeak folded, spaced letters
joined, base64 decoded), the highest score winning.

On input the check scores no label (``labels_for``): the instructions are among the texts
of a request, and would match themselves. The score depends on the conversation
(``reads_context``), so the verdict cache keys on it too. Nothing of the instructions or
the canaries reaches a message, a label or the version.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from classifiers.base import ClassifyContext, Direction, InProcessClassifier, Scores
from classifiers.options import ClassifierOptions, settings_of
from classifiers.prompt_leak.options import PromptLeakOptions
from classifiers.prompt_leak.runs import Instructions, instruction_texts
from classifiers.prompt_leak.words import canonical_words, squashed

__all__ = ["PromptLeakClassifier"]

RECENT_INSTRUCTIONS = 32  # requests in flight at once whose index is kept


class PromptLeakClassifier(InProcessClassifier):
    type_name = "prompt_leak"
    labels = ("verbatim", "canary")
    reads_context: ClassVar[bool] = True
    reads_direction: ClassVar[bool] = True

    def __init__(self, name: str,
                 options: ClassifierOptions | Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        self.settings = settings_of(PromptLeakOptions, name, self.type_name, options)
        self._canaries = tuple(squashed(canonical_words(c)) for c in self.settings.canaries)
        # The version (part of the verdict cache's keys, in Redis too) holds no trace of
        # the canaries, not even a hash: an 8-letter canary's hash is brute-forced in
        # hours. None is needed: a canary lives in the instructions, so a new one comes
        # with a new conversation fingerprint, the cache's other key.
        given = json.dumps(self.settings.model_dump(mode="json", exclude={"canaries"}),
                           sort_keys=True)
        self._version = f"prompt_leak:1:{hashlib.sha256(given.encode()).hexdigest()[:12]}"
        # The indexes of the last few requests' instructions: one request calls classify
        # for its whole answer, each window and each canonical view, under one context.
        self._indexed: OrderedDict[tuple[str, ...], Instructions] = OrderedDict()

    @property
    def version(self) -> str:
        return self._version

    def labels_for(self, direction: Direction) -> tuple[str, ...]:
        return self.labels if direction == "output" else ()

    def classify_now(
        self, texts: Sequence[str], context: ClassifyContext | None = None
    ) -> list[Scores]:
        if context is not None and context.direction != "output":
            return [{} for _ in texts]
        instructions = self._instructions(context.conversation if context else ())
        return [self._scores(canonical_words(text), instructions) for text in texts]

    def _instructions(self, conversation: Sequence[Mapping[str, str]]) -> Instructions:
        texts = instruction_texts(conversation, self.settings.roles)
        indexed = self._indexed.get(texts)
        if indexed is None:
            indexed = self._indexed[texts] = Instructions.of(texts)
            if len(self._indexed) > RECENT_INSTRUCTIONS:
                self._indexed.popitem(last=False)
        else:
            self._indexed.move_to_end(texts)
        return indexed

    def _scores(self, words: list[str], instructions: Instructions) -> Scores:
        run_words = self.settings.run_words
        verbatim = 0.0
        if instructions.words >= self.settings.min_instruction_words:
            verbatim = instructions.longest_run(words, run_words) / run_words
        answer = squashed(words)
        canary = any(c in answer for c in self._canaries)
        return {"verbatim": verbatim, "canary": 1.0 if canary else 0.0}
