"""One label vocabulary for every Detoxify model.

The published checkpoints name their classes differently (the Jigsaw 2018 names of
``original`` against the 2019 names of ``unbiased``); policies name labels from this fixed
vocabulary whichever model runs. Classes outside it (the identity subgroups that
``unbiased`` also predicts: ``male``, ``muslim``...) are not exposed: they describe who a
text mentions, not whether it is toxic.
"""

from __future__ import annotations

from collections.abc import Sequence

VOCABULARY = (
    "toxicity",
    "severe_toxicity",
    "obscene",
    "threat",
    "insult",
    "identity_attack",
    "sexual_explicit",
)
_ALIASES = {
    "toxic": "toxicity",
    "severe_toxic": "severe_toxicity",
    "identity_hate": "identity_attack",
    "sexually_explicit": "sexual_explicit",
}
# What each published model scores, known before its weights are loaded.
EXPECTED = {
    "original": VOCABULARY[:6],
    "original-small": VOCABULARY[:6],
    "unbiased": VOCABULARY,
    "unbiased-small": VOCABULARY,
    "multilingual": VOCABULARY,
}


def normalise(class_names: Sequence[str]) -> dict[str, int]:
    """Our label -> the model's output column, in vocabulary order."""
    columns = {_ALIASES.get(name, name): column for column, name in enumerate(class_names)}
    return {label: columns[label] for label in VOCABULARY if label in columns}
