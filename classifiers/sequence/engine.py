"""The model the batcher runs: an encoder (tokenize, window, pad) and a scorer (a runtime)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from classifiers.detoxify.encoding import Encoder
from classifiers.detoxify.loading import load
from classifiers.detoxify.options import DetoxifyOptions
from classifiers.detoxify.torch_runtime import TorchScorer

Scorer = Callable[[dict[str, np.ndarray]], np.ndarray]


@dataclass(frozen=True, slots=True)
class DetoxifyEngine:
    encoder: Encoder
    scorer: Scorer
    class_names: tuple[str, ...]
    fingerprint: str

    def windows(self, texts: list[str]) -> list[list[list[int]]]:
        return self.encoder.windows(texts)

    def score(self, rows: list[list[int]]) -> list[list[float]]:
        return self.scorer(self.encoder.pad(rows)).tolist()


def build_engine(options: DetoxifyOptions) -> DetoxifyEngine:
    """Loads the weights and prepares the runtime (blocking: call it off the event loop)."""
    import torch

    if options.threads is not None:
        torch.set_num_threads(options.threads)  # process-wide, like every torch setting
    loaded = load(options)
    encoder = Encoder(loaded.tokenizer, loaded.model.config, options)
    scorer: Scorer = TorchScorer(loaded.model, options.device)
    if options.runtime == "onnx":
        from classifiers.detoxify.onnx_runtime import onnx_scorer

        scorer = onnx_scorer(loaded, encoder, options)
    return DetoxifyEngine(encoder, scorer, loaded.class_names, loaded.fingerprint)
