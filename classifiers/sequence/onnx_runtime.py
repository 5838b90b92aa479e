"""The ONNX Runtime path: export the loaded model once into a cache folder, then serve it.

The cache folder is keyed by the weights' fingerprint and the torch and transformers
versions, so a new checkpoint or library re-exports and replicas sharing a volume reuse one
export. Files are written under a temporary name and renamed, so a crash or a concurrent
start never leaves a half-written model behind. ``quantize: int8`` adds a dynamic int8
quantization, made once from the fp32 export: weights per output channel on a 7-bit grid,
activations to uint8 per tensor at run time.

Why 7 bits: CPUs without VNNI (AVX2, plain AVX-512) multiply uint8 activations by int8
weights with an instruction that adds pairs of products into int16 and saturates; with
8-bit weights a pair can reach 2 * 255 * 127 = 64,770 and is clipped, so the same model
scored differently on different CPUs (a fleet of mixed nodes would disagree on verdicts).
With 7-bit weights a pair stays under 2 * 255 * 63 = 32,130 < 32,767: the integer
arithmetic is exact on every x86-64 CPU, and only the quantization grid's rounding remains.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.base import ClassifierConfigError
from classifiers.sequence.activation import Activation, activate
from classifiers.sequence.encoding import Encoder
from classifiers.sequence.loaded import LoadedModel
from classifiers.sequence.options import INT8_SCHEME, ServingOptions

OPSET = 17
INT8_FILE = f"model.{INT8_SCHEME}.onnx"


class OnnxScorer:
    def __init__(self, session: Any, activation: Activation) -> None:
        self.session = session
        self._activation: Activation = activation
        # The export drops inputs the graph never reads (DeBERTa-v2 without token types).
        self._inputs = tuple(graph_input.name for graph_input in session.get_inputs())

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        feed = {name: inputs[name] for name in self._inputs}
        return activate(self.session.run(["logits"], feed)[0], self._activation)


def onnx_scorer(loaded: LoadedModel, encoder: Encoder, options: ServingOptions,
                activation: Activation) -> OnnxScorer:
    try:
        import onnxruntime
    except ImportError:
        raise ClassifierConfigError(
            f"{options.family}: runtime: onnx needs onnxruntime and onnx "
            "(from the safety-proxy checkout: pip install '.[onnx]'), or use runtime: torch"
        ) from None
    folder = cache_folder(loaded, options)
    path = _cached(folder / "model.onnx", lambda out: _export(loaded.model, encoder, out),
                   options.family)
    if options.quantize == "int8":
        path = _cached(folder / INT8_FILE, lambda out: _quantize(path, out), options.family)
    session_options = onnxruntime.SessionOptions()
    session_options.intra_op_num_threads = options.threads or 0
    session_options.inter_op_num_threads = 1
    # Idle intra-op threads sleep instead of spinning: spinning workers take the cores the
    # event loop needs to answer promptly (the proxy's latency matters more than ~5%).
    session_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = ["CPUExecutionProvider"]
    if options.device == "cuda":
        providers.insert(0, "CUDAExecutionProvider")
    session = onnxruntime.InferenceSession(str(path), session_options, providers=providers)
    return OnnxScorer(session, activation)


def cache_folder(loaded: LoadedModel, options: ServingOptions) -> Path:
    import torch
    import transformers

    tag = f"{loaded.fingerprint}-torch{torch.__version__}-tf{transformers.__version__}"
    return options.onnx_cache_dir.expanduser() / re.sub(r"[^A-Za-z0-9_.-]", "_", tag)


def _cached(path: Path, make: Callable[[Path], None], family: str) -> Path:
    if path.is_file():
        return path
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        make(partial)
        os.replace(partial, path)
    except ClassifierConfigError:
        raise
    except Exception as exc:
        raise ClassifierConfigError(
            f"{family}: could not write the ONNX model {path} ({type(exc).__name__}: {exc}); "
            "check that onnx_cache_dir is writable, or use runtime: torch"
        ) from None
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
    return path


def _export(model: Any, encoder: Encoder, out: Path) -> None:

    # Traced with a padded batch, so the graph keeps the attention-mask path.
    sample = encoder.pad([row for rows in encoder.windows(["a padded probe batch", "hi"])
                          for row in rows])
    dynamic = {name: {0: "batch", 1: "tokens"} for name in sample}
    with warnings.catch_warnings():  # the tracer's notes on constant branches: noise here
        warnings.simplefilter("ignore")
        _trace(model, sample, dynamic, out)


def _trace(model: Any, sample: dict[str, np.ndarray], dynamic: dict[str, Any], out: Path) -> None:
    import torch

    torch.onnx.export(
        model.cpu(),
        tuple(torch.from_numpy(array) for array in sample.values()),
        str(out),
        input_names=list(sample),
        output_names=["logits"],
        dynamic_axes={**dynamic, "logits": {0: "batch"}},
        opset_version=OPSET,
        dynamo=False,
    )


def _quantize(fp32: Path, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True,
                     reduce_range=True)
