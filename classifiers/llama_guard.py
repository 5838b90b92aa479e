"""``type: llama_guard``: Llama Guard 3 / 4 served behind an OpenAI-compatible endpoint.

The model's chat template (as vLLM serves it) turns the conversation into its moderation
prompt; it answers ``safe``, or ``unsafe`` and a line of category codes (``S1,S10``).
Labels: ``unsafe`` and one per category of the MLCommons hazard taxonomy that Llama
Guard 3 and 4 share, e.g. ``s1_violent_crimes``. Scores are 1.0 / 0.0.

What is sent: on output, the request's conversation plus the answer as the last assistant
turn; on input, the conversation up to the scored message (or that message alone). System
and tool messages are dropped and consecutive turns of one role merged, because the template
accepts only alternating user / assistant turns starting with the user. Options:
``base_url``, ``model``, ``api_key_env``, ``timeout_s``, ``max_concurrency``
(classifiers/judge_options.py). Cost: one model call per new text and conversation (the
proxy's verdict cache keys on both).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import ClassVar

from classifiers.base import (
    ClassifierError,
    ClassifyContext,
    Scores,
)
from classifiers.judge_client import (
    JudgeBackedClassifier,
    gather_all,
)
from classifiers.judge_options import JudgeOptions, LlamaGuardOptions

CATEGORIES = {
    "S1": "violent_crimes", "S2": "non_violent_crimes", "S3": "sex_related_crimes",
    "S4": "child_sexual_exploitation", "S5": "defamation", "S6": "specialized_advice",
    "S7": "privacy", "S8": "intellectual_property", "S9": "indiscriminate_weapons",
    "S10": "hate", "S11": "suicide_self_harm", "S12": "sexual_content", "S13": "elections",
    "S14": "code_interpreter_abuse",
}
LABELS = ("unsafe", *(f"{code.lower()}_{name}" for code, name in CATEGORIES.items()))
_VERDICT = re.compile(r"^(safe|unsafe)(?:\s+(S\d{1,2}(?:\s*,\s*S\d{1,2})*))?$", re.IGNORECASE)
Turn = dict[str, str]


def parse_verdict(answer: str, source: str) -> Scores:
    """``safe`` or ``unsafe`` plus optional codes -> scores; anything else raises."""
    match = _VERDICT.match(answer.strip())
    codes = re.split(r"\s*,\s*", match.group(2).upper()) if match and match.group(2) else []
    if match is None or any(code not in CATEGORIES for code in codes) or (
        codes and match.group(1).lower() == "safe"
    ):
        raise ClassifierError(f"{source}: malformed Llama Guard answer ({len(answer)} chars)")
    scores = dict.fromkeys(LABELS, 0.0)
    if match.group(1).lower() == "unsafe":
        scores["unsafe"] = 1.0
        for code in codes:
            scores[f"{code.lower()}_{CATEGORIES[code]}"] = 1.0
    return scores


def alternating(turns: Sequence[Mapping[str, str]]) -> list[Turn]:
    """User / assistant turns only, consecutive same-role turns merged, starting with user."""
    merged: list[Turn] = []
    for turn in turns:
        role, content = turn.get("role"), turn.get("content")
        if role not in ("user", "assistant") or not isinstance(content, str):
            continue
        if merged and merged[-1]["role"] == role:
            merged[-1] = {"role": role, "content": f"{merged[-1]['content']}\n\n{content}"}
        elif merged or role == "user":
            merged.append({"role": role, "content": content})
    return merged


def conversation_for(text: str, context: ClassifyContext) -> list[Turn]:
    turns = list(context.conversation)
    if context.direction == "output":
        return alternating([*turns, {"role": "assistant", "content": text}])
    ends = [i for i, turn in enumerate(turns) if turn.get("content") == text]
    upto = turns[: ends[-1] + 1] if ends else [{"role": "user", "content": text}]
    if upto[-1].get("role") != "user":
        upto = [*upto, {"role": "user", "content": text}]
    return alternating(upto)


class LlamaGuardClassifier(JudgeBackedClassifier):
    type_name = "llama_guard"
    labels = LABELS
    options_model: ClassVar[type[JudgeOptions]] = LlamaGuardOptions

    @property
    def version(self) -> str:
        return f"llama_guard:1:{self.settings.model}"

    async def classify(
        self, texts: Sequence[str], context: ClassifyContext | None = None
    ) -> list[Scores]:
        context = context or ClassifyContext(direction="input")
        return await gather_all([self._verdict(conversation_for(t, context)) for t in texts])

    async def _verdict(self, conversation: list[Turn]) -> Scores:
        return parse_verdict(await self._client.complete(conversation, max_tokens=20), self.name)
