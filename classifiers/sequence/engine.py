"""The model the batcher runs: an encoder (tokenize, window, pad) and a scorer (a runtime)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from classifiers.sequence.activation import Activation
from classifiers.sequence.encoding import Encoder, forward_inputs
from classifiers.sequence.loaded import LoadedModel
from classifiers.sequence.options import ServingOptions
from classifiers.sequence.torch_runtime import TorchScorer

Scorer = Callable[[dict[str, np.ndarray]], np.ndarray]


@dataclass(frozen=True, slots=True)
class Engine:
    encoder: Encoder
    scorer: Scorer
    class_names: tuple[str, ...]
    fingerprint: str
    activation: Activation

    def windows(self, texts: list[str]) -> list[list[list[int]]]:
        return self.encoder.windows(texts)

    def score(self, rows: list[list[int]]) -> list[list[float]]:
        scores: list[list[float]] = self.scorer(self.encoder.pad(rows)).tolist()
        return scores


def build_engine(options: ServingOptions, load: Callable[[], LoadedModel],
                 activation: Callable[[LoadedModel], Activation]) -> Engine:
    """Loads the weights and prepares the runtime (blocking: call it off the event loop).

    ``activation`` picks sigmoid or softmax once the model (and its config) is loaded.
    """
    import torch

    if options.threads is not None:
        torch.set_num_threads(options.threads)  # process-wide, like every torch setting
    if options.allow_tf32 and options.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # process-wide too
        torch.backends.cudnn.allow_tf32 = True
    loaded = load()
    loaded.model.to(options.device).eval()
    if options.runtime == "torch":
        loaded.model.to(getattr(torch, options.dtype))
    chosen = activation(loaded)
    encoder = Encoder(loaded.tokenizer, loaded.model.config, options,
                      accepted=forward_inputs(loaded.model))
    scorer: Scorer = TorchScorer(loaded.model, options.device, chosen)
    if options.cuda_graphs:
        from classifiers.sequence.cuda_graphs import Buckets, GraphedScorer

        buckets = Buckets(max_rows=options.max_batch, max_tokens=options.max_batch_tokens,
                          window=encoder.plan.size, pad_id=encoder.pad_id)
        scorer = GraphedScorer(loaded.model, options.device, chosen, buckets,
                               encoder.input_names)
        scorer.capture_all()
    if options.runtime == "onnx":
        from classifiers.sequence.onnx_runtime import onnx_scorer

        scorer = onnx_scorer(loaded, encoder, options, chosen)
    return Engine(encoder, scorer, loaded.class_names, loaded.fingerprint, chosen)
