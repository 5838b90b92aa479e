"""The torch runtime: the loaded module itself, in inference mode."""

from __future__ import annotations

from typing import Any

import numpy as np

from classifiers.sequence.activation import Activation, activate


class TorchScorer:
    """Padded inputs -> probabilities, one row per window, one column per class."""

    def __init__(self, model: Any, device: str, activation: Activation) -> None:
        self.model = model
        self._device = device
        self._activation: Activation = activation

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        tensors = {name: torch.from_numpy(array).to(self._device) for name, array in inputs.items()}
        with torch.inference_mode():
            logits = self.model(**tensors).logits
        return activate(logits.float().cpu().numpy(), self._activation)
