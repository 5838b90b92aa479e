"""The options of a ``type: transformers`` check: which model, how its labels read, how its
logits become scores, plus the shared serving options (classifiers/sequence/options.py).
A light module (pydantic and the standard library)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from classifiers.options import shown
from classifiers.sequence.options import ONNX_CACHE_ROOT, ServingOptions

SAFE_LABEL = re.compile(r"[a-z0-9_]+")


class TransformersOptions(ServingOptions):
    family: ClassVar[str] = "transformers"

    # A local folder written by save_pretrained (config.json, weights, tokenizer files), or a
    # Hugging Face hub id such as "unitary/toxic-bert" (downloaded and cached on first start).
    model: str = Field(min_length=1)
    revision: str | None = None  # hub ids only: a branch, tag or commit
    # auto: sigmoid when the config's problem_type is multi_label_classification, else softmax.
    activation: Literal["auto", "sigmoid", "softmax"] = "auto"
    # The model's label (as in its config's id2label, or in its lower-case safe form) ->
    # the label the policy names.
    labels: dict[str, str] = Field(default_factory=dict)
    onnx_cache_dir: Path = ONNX_CACHE_ROOT / "transformers-onnx"

    @field_validator("labels")
    @classmethod
    def _safe_names(cls, labels: dict[str, str]) -> dict[str, str]:
        for target in labels.values():
            if not SAFE_LABEL.fullmatch(target):
                raise ValueError(f"{shown(target)} is not a label name (lower-case a-z, "
                                 "0-9 and _)")
        return labels

