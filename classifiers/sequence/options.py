"""The serving options every sequence-classification family shares, validated once.

Every option has a default that runs on one CPU; a typo or a bad value names the option
(classifiers/options.py), and the proxy refuses the config when it loads. A family
(``type: detoxify``, ``type: transformers``) subclasses :class:`ServingOptions` with the
options that say which model to load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import Field, model_validator

from classifiers.options import ClassifierOptions
from classifiers.remote.options import RemoteOptions

# The int8 scheme (onnx_runtime.py says why): in the export's file name and the classifier's
# version, so an export or a cached verdict made with another scheme is never reused.
INT8_SCHEME = "int8pc7"
ONNX_CACHE_ROOT = Path.home() / ".cache" / "safety-proxy"

Device = Literal["cpu", "cuda"]
# What an unset serving option means on each device. A CPU forward pass is cheap to start
# and costs per padded token, so small batches keep a short text from waiting behind a long
# one; a GPU pays a fixed launch cost per pass, so it needs wide batches to be busy, and rows
# padded to a multiple of 8 keep its tensor cores on their fast path and the shapes few.
DEVICE_DEFAULTS: dict[str, dict[str, Any]] = {
    "cpu": {"max_batch": 32, "max_batch_tokens": 2048, "pad_multiple": 1, "dtype": "float32",
            "pipeline": False, "cuda_graphs": False},
    "cuda": {"max_batch": 256, "max_batch_tokens": 65536, "pad_multiple": 8,
             "dtype": "float16", "pipeline": True, "cuda_graphs": True},
}
TORCH_ONLY = ("dtype", "cuda_graphs")  # defaults that do not apply to other runtimes


class ServingOptions(ClassifierOptions):
    family: ClassVar[str] = "sequence"  # the config's type name, in loading messages

    device: Device = "cpu"
    # The weights' and activations' precision (torch only); unset: float16 on cuda, float32
    # on cpu. Half precision moves scores by a few units of its rounding (float16 2**-11,
    # bfloat16 2**-8: tests/classifiers/test_serving_options.py).
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    # cuda float32 only: matrix products in TF32 (10-bit mantissa, as float16's), several
    # times faster on Ampere and newer; process-wide, like every torch setting.
    allow_tf32: bool = False
    # cuda, torch (unset: true there): each forward pass replayed from a CUDA graph captured
    # at start-up per bucketed shape (classifiers/sequence/cuda_graphs.py) instead of
    # launched op by op from Python.
    cuda_graphs: bool = False
    # Intra-op threads for inference (torch's setting is process-wide); None: library default.
    threads: int | None = Field(None, ge=1)
    # 0: the model runs in this process, on two threads (tokenizer, model); N: in N worker
    # processes, each loading the model (N times its memory), off the proxy's GIL.
    workers: int = Field(0, ge=0, le=64)
    runtime: Literal["torch", "onnx", "remote"] = "torch"
    quantize: Literal["none", "int8"] = "none"  # onnx only: dynamic int8 weights
    onnx_cache_dir: Path = ONNX_CACHE_ROOT / "onnx"
    # One forward pass holds at most max_batch windows and max_batch_tokens padded tokens
    # (rows x longest row), which bounds how long a short text can wait behind a batch.
    # Unset, both follow the device (DEVICE_DEFAULTS), as does pad_multiple: each pass's
    # rows are padded to a multiple of it (never past the model's window).
    max_batch: int = Field(32, ge=1)
    max_batch_tokens: int = Field(2048, ge=16)
    pad_multiple: int = Field(1, ge=1, le=128)
    max_wait_ms: float = Field(1.0, ge=0)
    # Unset: true on cuda. A pass starts as soon as the last one ends, with the rows that
    # are ready, while the next texts are tokenized (classifiers/sequence/pool.py); false:
    # a pass also takes the texts being tokenized when it starts (best on a CPU).
    pipeline: bool = False
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
    # runtime: remote only: the Open Inference Protocol server that scores the texts.
    remote: RemoteOptions | None = None

    @model_validator(mode="before")
    @classmethod
    def _device_defaults(cls, data: Any) -> Any:
        """Fills the options left unset with the device's defaults."""
        if not isinstance(data, dict):
            return data
        device = data.get("device", "cpu")
        defaults = DEVICE_DEFAULTS.get(device) if isinstance(device, str) else None
        if defaults is None:
            return data  # a bad device name: its own error says so
        if data.get("runtime", "torch") != "torch":
            defaults = {k: v for k, v in defaults.items() if k not in TORCH_ONLY}
        return {**defaults, **data}

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.window_overlap >= self.window_tokens // 2:
            raise ValueError("window_overlap must be less than half of window_tokens")
        if self.quantize == "int8" and self.runtime != "onnx":
            raise ValueError("quantize: int8 needs runtime: onnx")
        if self.cuda_graphs and (self.device != "cuda" or self.runtime != "torch"):
            raise ValueError("cuda_graphs needs device: cuda and runtime: torch")
        if self.dtype != "float32" and self.runtime == "onnx":
            raise ValueError(f"dtype: {self.dtype} needs runtime: torch (runtime: onnx runs "
                             "float32, or int8 with quantize: int8)")
        return self

    @model_validator(mode="after")
    def _remote_coherent(self) -> Self:
        if self.runtime == "remote" and self.remote is None:
            raise ValueError("runtime: remote needs a remote: block (url, model...)")
        if self.remote is not None and self.runtime != "remote":
            raise ValueError("remote: is read only with runtime: remote")
        if self.workers and self.runtime == "remote":
            raise ValueError("workers: run a local model; runtime: remote has none")
        return self

    def runtime_tag(self) -> str:
        """The runtime part of a classifier's version: torch, torch-float16 (any precision
        that moves scores), onnx-none or onnx-int8pc7."""
        if self.remote is not None:  # remote-<model>[@<version>]
            return self.remote.tag()
        if self.runtime == "torch":
            if self.dtype != "float32":
                return f"torch-{self.dtype}"
            return "torch-tf32" if self.allow_tf32 and self.device == "cuda" else "torch"
        if self.runtime != "onnx":
            return self.runtime
        return f"onnx-{INT8_SCHEME if self.quantize == 'int8' else self.quantize}"

    def windows_tag(self) -> str:
        """The windowing part of a classifier's version."""
        return f"w{self.window_tokens}o{self.window_overlap}t{self.max_tokens_per_text}"
