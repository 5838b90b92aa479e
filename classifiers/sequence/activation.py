"""Logits to scores in [0, 1]: one implementation for every runtime.

``sigmoid`` scores each class independently (multi-label: Detoxify, toxic-bert);
``softmax`` spreads one unit of probability over the classes (single-label: Prompt-Guard,
most fine-tuned classifiers). Computed in float64 from the runtime's float32 logits, so the
torch and ONNX paths differ only by their logits.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Activation = Literal["sigmoid", "softmax"]


def activate(logits: np.ndarray, activation: Activation) -> np.ndarray:
    """One row of scores per row of logits."""
    values = logits.astype(np.float64)
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-values))
    shifted = np.exp(values - values.max(axis=-1, keepdims=True))  # no overflow
    return np.asarray(shifted / shifted.sum(axis=-1, keepdims=True), dtype=np.float64)
