"""Texts to model inputs: tokenize, cut into windows, pad a batch of windows.

Runs on the batcher's threads (``windows`` on the tokenizer's, ``pad`` on the model's). The
windows carry the tokenizer's own special tokens, found by encoding a probe with and
without them, so BERT ([CLS] .. [SEP]), RoBERTa and XLM-R (<s> .. </s>) and ALBERT all work
without model-specific code.
"""

from __future__ import annotations

import inspect
from collections.abc import Collection
from typing import Any

import numpy as np

from classifiers.base import well_formed
from classifiers.sequence.options import ServingOptions
from classifiers.sequence.windows import WindowPlan

_NO_LIMIT = 1_000_000  # tokenizers without a configured limit report ~1e30


class Encoder:
    def __init__(self, tokenizer: Any, model_config: Any, options: ServingOptions,
                 accepted: Collection[str] | None = None) -> None:
        """``accepted``: the inputs the model's forward takes (a DistilBERT takes no
        token_type_ids even when its tokenizer makes them); None: all the tokenizer's."""
        self._tokenizer = tokenizer
        prefix, suffix = _special_tokens(tokenizer)
        self.plan = WindowPlan(
            size=min(options.window_tokens, window_limit(tokenizer, model_config)),
            overlap=options.window_overlap,
            max_tokens=options.max_tokens_per_text,
            max_windows=options.max_windows_per_text,
            prefix=prefix,
            suffix=suffix,
        )
        self.pad_id = int(tokenizer.pad_token_id or 0)
        self.pad_multiple = options.pad_multiple
        self.input_names = tuple(
            name for name in ("input_ids", "attention_mask", "token_type_ids")
            if name in tokenizer.model_input_names and (accepted is None or name in accepted)
        )

    def windows(self, texts: list[str]) -> list[list[list[int]]]:
        ids = self._tokenizer([well_formed(text) for text in texts], add_special_tokens=False,
                              verbose=False)["input_ids"]
        return [self.plan.split(text_ids) for text_ids in ids]

    def pad(self, rows: list[list[int]]) -> dict[str, np.ndarray]:
        """The model's inputs for a batch, padded on the right to its longest row rounded
        up to a multiple of ``pad_multiple`` (at most the window size)."""
        width = padded_width(max(len(row) for row in rows), self.pad_multiple, self.plan.size)
        input_ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for index, row in enumerate(rows):
            input_ids[index, : len(row)] = row
            mask[index, : len(row)] = 1
        inputs = {"input_ids": input_ids, "attention_mask": mask}
        inputs["token_type_ids"] = np.zeros_like(input_ids)
        return {name: inputs[name] for name in self.input_names}


def padded_width(longest: int, multiple: int, limit: int) -> int:
    """``longest`` rounded up to a multiple of ``multiple``, never past ``limit``."""
    return max(longest, min(-(-longest // multiple) * multiple, limit))


def forward_inputs(model: Any) -> frozenset[str]:
    """The keyword arguments the model's forward pass takes."""
    return frozenset(inspect.signature(model.forward).parameters)


def window_limit(tokenizer: Any, model_config: Any) -> int:
    """The most tokens one window may hold, special tokens included."""
    positions = int(model_config.max_position_embeddings)
    if model_config.model_type in ("roberta", "xlm-roberta", "camembert"):
        positions -= 2  # their position ids start after the padding index
    declared = int(tokenizer.model_max_length)
    return min(positions, declared) if declared < _NO_LIMIT else positions


def _special_tokens(tokenizer: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    bare = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a", add_special_tokens=True)["input_ids"]
    for start in range(len(full) - len(bare) + 1):
        if full[start : start + len(bare)] == bare:
            return tuple(full[:start]), tuple(full[start + len(bare) :])
    raise ValueError("the tokenizer's special tokens could not be located")
