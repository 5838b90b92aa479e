"""The serving options every sequence-classification family shares, validated once.

Every option has a default that runs on one CPU; a typo or a bad value names the option
(classifiers/options.py), and the proxy refuses the config when it loads. A family
(``type: detoxify``, ``type: transformers``) subclasses :class:`ServingOptions` with the
options that say which model to load.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal, Self

from pydantic import Field, model_validator

from classifiers.options import ClassifierOptions

# The int8 scheme (onnx_runtime.py says why): in the export's file name and the classifier's
# version, so an export or a cached verdict made with another scheme is never reused.
INT8_SCHEME = "int8pc7"
ONNX_CACHE_ROOT = Path.home() / ".cache" / "safety-proxy"


class ServingOptions(ClassifierOptions):
    family: ClassVar[str] = "sequence"  # the config's type name, in loading messages

    device: Literal["cpu", "cuda"] = "cpu"
    # Intra-op threads for inference (torch's setting is process-wide); None: library default.
    threads: int | None = Field(None, ge=1)
    runtime: Literal["torch", "onnx"] = "torch"
    quantize: Literal["none", "int8"] = "none"  # onnx only: dynamic int8 weights
    onnx_cache_dir: Path = ONNX_CACHE_ROOT / "onnx"
    # One forward pass holds at most max_batch windows and max_batch_tokens padded tokens
    # (rows x longest row), which bounds how long a short text can wait behind a batch.
    max_batch: int = Field(32, ge=1)
    max_batch_tokens: int = Field(2048, ge=16)
    max_wait_ms: float = Field(1.0, ge=0)
    max_queue: int = Field(1024, ge=1)  # texts waiting; beyond it classify fails at once
    # A text is tokenized whole, then only its first max_tokens_per_text tokens are scored, as
    # windows of window_tokens (capped at the model's limit) sharing window_overlap tokens.
    max_tokens_per_text: int = Field(4096, ge=8)
    max_windows_per_text: int = Field(16, ge=1)
    window_tokens: int = Field(512, ge=8)
    window_overlap: int = Field(64, ge=0)
    # A request that waits longer fails; a batch running longer marks the model as stalled.
    request_timeout_s: float = Field(30.0, gt=0)
    stall_after_s: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.window_overlap >= self.window_tokens // 2:
            raise ValueError("window_overlap must be less than half of window_tokens")
        if self.quantize == "int8" and self.runtime != "onnx":
            raise ValueError("quantize: int8 needs runtime: onnx")
        return self

    def runtime_tag(self) -> str:
        """The runtime part of a classifier's version: torch, onnx-none or onnx-int8pc7."""
        if self.runtime != "onnx":
            return self.runtime
        return f"onnx-{INT8_SCHEME if self.quantize == 'int8' else self.quantize}"

    def windows_tag(self) -> str:
        """The windowing part of a classifier's version."""
        return f"w{self.window_tokens}o{self.window_overlap}t{self.max_tokens_per_text}"
