"""all-MiniLM-L6-v2 served by ONNX Runtime, its graph written from the safetensors weights.

The graph is built with ``onnx.helper`` from the same ``model.safetensors`` that
:mod:`classifiers.semantic.minilm` reads, computing exactly what that module computes:
word + position + token-type-0 embeddings and LayerNorm; 6 layers of 12-head
self-attention that ignores padding, LayerNorm, GELU (erf form), LayerNorm; mean pooling
over real tokens; L2 normalisation. Nothing is traced, so torch is needed neither to build
nor to serve; ``onnx`` is needed only to build (once per cache entry), ``onnxruntime``
to serve.

Graph shape: standard ONNX operators (opset 17), as minilm.py writes the model (Q, K and V
from one packed matrix product). The session's own optimizer fuses what pays on CPU
(LayerNormalization, BiasGelu, MatMul + scale into FusedMatMul; int8: SkipLayerNormalization,
DynamicQuantizeMatMul). Measured alternatives, CPU-seconds per text on one AVX2 core: ORT's
contrib operators written directly (EmbedLayerNormalization, Attention,
SkipLayerNormalization, BiasGelu) ran 5-10% slower in fp32 and 0-6% faster in int8; the
offline transformer optimizer (``onnxruntime.transformers.optimizer``) fused BiasGelu and
SkipLayerNormalization but not the attention (its mask pattern is a traced BERT's) and was
no faster. Standard operators also keep the graph valid for ``onnx.checker`` and any
runtime.

``int8``: ONNX Runtime's dynamic quantization of the fp32 graph (the weight MatMuls to int8
per output channel on a 7-bit grid; activations to uint8 with one scale per tensor per call,
so a text's embedding depends on the other texts of its call: the encoder runs int8 one text
per call). Per-tensor weights lost too much (cosine to fp32 0.89 on average); leaving any
one layer's MatMuls in fp32 gained little (the error is spread evenly). 7 bits for the
reason :mod:`classifiers.sequence.onnx_runtime` gives: on CPUs without VNNI the uint8 x int8
pair sums saturate int16 with 8-bit weights, so the same text would score differently on
different nodes; with 7-bit weights the integer arithmetic is exact on every x86-64 CPU.

Cache: each built model is one file in ``cache_dir``, named after the safetensors' SHA-256,
:data:`BUILDER_VERSION` and the precision (int8 also names the onnxruntime version that
quantized it). A file is written under a temporary name and renamed, so no reader ever
sees a partial model (each writer has its own temporary name: concurrent builds in one
process or in replicas sharing a volume are safe, the last rename wins); a file that does
not load (truncated, corrupt) is rebuilt once. Building takes a few seconds (fp32 about 1 s,
int8 about 3 s more); a start with the files present hashes the weights (~0.2 s) and opens
the session. Thread-safety: :meth:`OnnxMiniLM.encode` may run on any
thread (ONNX Runtime sessions are safe for concurrent ``run`` calls; the tokenizer is
only read).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tokenizers import Tokenizer

from classifiers.base import ClassifierConfigError
from classifiers.semantic.minilm import Array, read_safetensors

# Bump when the graph (or the quantization recipe) changes: the cache file name holds it.
BUILDER_VERSION = 1
OPSET = 17
Precision = Literal["fp32", "int8"]
_HEADS = 12
_HIDDEN = 384
_EPS = 1e-12
INSTALL_HINT = "pip install safety-proxy[onnx]"


def import_onnxruntime() -> Any:
    """onnxruntime, or a ClassifierConfigError that says how to install it."""
    try:
        import onnxruntime
    except ImportError:
        raise ClassifierConfigError(
            f"runtime: onnx needs onnxruntime and onnx ({INSTALL_HINT}), "
            "or use runtime: numpy") from None
    return onnxruntime


class _Graph:
    """Accumulates nodes and initializers; each method emits one step and names its output."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0
        self._constants: set[str] = set()

    def const(self, name: str, value: np.ndarray) -> str:
        """An initializer (added once: later calls with the same name reuse it)."""
        from onnx import numpy_helper

        if name not in self._constants:
            self._constants.add(name)
            self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def op(self, op_type: str, inputs: list[str], outputs: int = 1, **attrs: Any) -> list[str]:
        from onnx import helper

        self._count += 1
        names = [f"{op_type}_{self._count}_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, name=f"{op_type}_{self._count}",
                                           **attrs))
        return names

    def one(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        return self.op(op_type, inputs, 1, **attrs)[0]


def _dense_weight(w: dict[str, np.ndarray], name: str) -> np.ndarray:
    """A torch Linear weight (out, in) as the (in, out) matrix that ``x @ W`` uses."""
    return np.ascontiguousarray(w[f"{name}.weight"].T)


def _layer_norm(g: _Graph, w: dict[str, np.ndarray], x: str, name: str) -> str:
    return g.one("LayerNormalization", [x, g.const(f"{name}.weight", w[f"{name}.weight"]),
                                        g.const(f"{name}.bias", w[f"{name}.bias"])],
                 axis=-1, epsilon=_EPS)


def _dense(g: _Graph, w: dict[str, np.ndarray], x: str, name: str) -> str:
    """x @ W + b for a torch Linear named ``name``."""
    product = g.one("MatMul", [x, g.const(f"{name}.weight_t", _dense_weight(w, name))])
    return g.one("Add", [product, g.const(f"{name}.bias", w[f"{name}.bias"])])


def _embeddings(g: _Graph, w: dict[str, np.ndarray]) -> str:
    """LayerNorm(word + position + token type 0): (batch, tokens, 384)."""
    # Token type is always 0: its row is folded into the position table (one add fewer).
    positions = (w["embeddings.position_embeddings.weight"]
                 + w["embeddings.token_type_embeddings.weight"][0]).astype(np.float32)
    words = g.one("Gather", [g.const("word_embeddings", w["embeddings.word_embeddings.weight"]),
                             "input_ids"])
    tokens = g.one("Shape", ["input_ids"], start=1, end=2)
    first = g.const("first_tokens", np.array([0], np.int64))
    used = g.one("Slice", [g.const("position_embeddings", positions), first, tokens, first])
    return _layer_norm(g, w, g.one("Add", [words, used]), "embeddings.LayerNorm")


def _attention_bias(g: _Graph, mask: str) -> str:
    """(batch, 1, 1, tokens): 0 for a real token, -1e9 for padding (as minilm.py)."""
    spread = g.one("Unsqueeze", [mask, g.const("axes_heads_queries", np.array([1, 2], np.int64))])
    padding = g.one("Sub", [g.const("one", np.array(1.0, np.float32)), spread])
    return g.one("Mul", [padding, g.const("padding_score", np.array(-1e9, np.float32))])


def _attention(g: _Graph, w: dict[str, np.ndarray], x: str, bias: str, p: str) -> str:
    """Multi-head self-attention; Q, K and V from one packed matrix product."""
    names = [f"{p}attention.self.{n}" for n in ("query", "key", "value")]
    packed_w = np.concatenate([_dense_weight(w, n) for n in names], axis=1)
    packed_b = np.concatenate([w[f"{n}.bias"] for n in names])
    qkv = g.one("Add", [g.one("MatMul", [x, g.const(f"{p}qkv.weight_t", packed_w)]),
                        g.const(f"{p}qkv.bias", packed_b)])
    q, k, v = g.op("Split", [qkv, g.const("qkv_split", np.array([_HIDDEN] * 3, np.int64))],
                   outputs=3, axis=2)
    heads = g.const("heads_shape", np.array([0, 0, _HEADS, _HIDDEN // _HEADS], np.int64))
    q, v = (g.one("Transpose", [g.one("Reshape", [t, heads])], perm=[0, 2, 1, 3]) for t in (q, v))
    k = g.one("Transpose", [g.one("Reshape", [k, heads])], perm=[0, 2, 3, 1])
    root = g.const("sqrt_head_dim", np.array(np.sqrt(_HIDDEN // _HEADS), np.float32))
    scores = g.one("Add", [g.one("Div", [g.one("MatMul", [q, k]), root]), bias])
    context = g.one("MatMul", [g.one("Softmax", [scores], axis=-1), v])
    merged = g.const("hidden_shape", np.array([0, 0, _HIDDEN], np.int64))
    return g.one("Reshape", [g.one("Transpose", [context], perm=[0, 2, 1, 3]), merged])


def _gelu(g: _Graph, x: str) -> str:
    """0.5 x (1 + erf(x / sqrt 2)): the session fuses it (with the bias) into BiasGelu."""
    scaled = g.one("Div", [x, g.const("sqrt_2", np.array(np.sqrt(2.0), np.float32))])
    half_x = g.one("Mul", [x, g.const("half", np.array(0.5, np.float32))])
    one = g.const("one", np.array(1.0, np.float32))
    return g.one("Mul", [half_x, g.one("Add", [g.one("Erf", [scaled]), one])])


def _layer(g: _Graph, w: dict[str, np.ndarray], x: str, bias: str, i: int) -> str:
    p = f"encoder.layer.{i}."
    attended = _dense(g, w, _attention(g, w, x, bias, p), f"{p}attention.output.dense")
    x = _layer_norm(g, w, g.one("Add", [attended, x]), f"{p}attention.output.LayerNorm")
    inner = _gelu(g, _dense(g, w, x, f"{p}intermediate.dense"))
    out = _dense(g, w, inner, f"{p}output.dense")
    return _layer_norm(g, w, g.one("Add", [out, x]), f"{p}output.LayerNorm")


def _pool_and_normalize(g: _Graph, x: str, mask: str) -> None:
    """Mean over real tokens, then unit length: the ``embedding`` output (batch, 384)."""
    weights = g.one("Unsqueeze", [mask, g.const("axis_last", np.array([2], np.int64))])
    summed = g.one("ReduceSum", [g.one("Mul", [x, weights]),
                                 g.const("axis_tokens", np.array([1], np.int64))], keepdims=0)
    count = g.one("ReduceSum", [mask, "axis_tokens"], keepdims=1)
    one = g.const("one", np.array(1.0, np.float32))
    mean = g.one("Div", [summed, g.one("Max", [count, one])])
    norm = g.one("ReduceL2", [mean], axes=[1], keepdims=1)  # opset 17: axes an attribute
    eps = g.const("eps", np.array(_EPS, np.float32))
    g.nodes.append(_node("Div", [mean, g.one("Max", [norm, eps])], ["embedding"]))


def _node(op_type: str, inputs: list[str], outputs: list[str], **attrs: Any) -> Any:
    from onnx import helper

    return helper.make_node(op_type, inputs, outputs, name=f"{op_type}_{outputs[0]}", **attrs)


def build_model(w: dict[str, np.ndarray]) -> Any:
    """The fp32 ModelProto from the safetensors tensors: inputs int64 ``input_ids`` and
    ``attention_mask`` (batch, tokens), output ``embedding`` (batch, 384)."""
    from onnx import TensorProto, helper

    g = _Graph()
    g.nodes.append(_node("Cast", ["attention_mask"], ["mask"], to=TensorProto.FLOAT))
    x = _embeddings(g, w)
    bias = _attention_bias(g, "mask")
    layers = 1 + max(int(k.split(".")[2]) for k in w if k.startswith("encoder.layer."))
    for i in range(layers):
        x = _layer(g, w, x, bias, i)
    _pool_and_normalize(g, x, "mask")
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "tokens"])
              for n in ("input_ids", "attention_mask")]
    output = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", _HIDDEN])
    graph = helper.make_graph(g.nodes, "all-MiniLM-L6-v2", inputs, [output], g.initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                             producer_name="safety-proxy", ir_version=8)


def file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def cache_path(cache_dir: Path, digest: str, precision: Precision) -> Path:
    """The cache file for these weights, this builder and this precision."""
    tag = "fp32" if precision == "fp32" else f"int8pc7-ort{import_onnxruntime().__version__}"
    return cache_dir.expanduser() / f"minilm-l6-v2-{digest[:16]}-b{BUILDER_VERSION}-{tag}.onnx"


def _write_atomically(path: Path, make: Callable[[Path], None]) -> None:
    """``make(temporary path)``, then one rename: readers see the whole file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique name per writer: two classifiers of one process may build at the same time.
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(handle)
    try:
        make(Path(name))
        os.chmod(name, 0o644)  # mkstemp's 0600 would hide the model from replicas' other users
        os.replace(name, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


def _save_fp32(weights: Path, out: Path) -> None:
    import onnx

    onnx.save_model(build_model(read_safetensors(weights)), str(out))


class _QuietQuantizer(logging.Filter):
    """Drops the quantizer's advice to pre-process (shape inference already types every
    tensor of this graph): one useless warning line per build in the proxy's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def _quantize(fp32: Path, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quiet = _QuietQuantizer()
    logging.getLogger().addFilter(quiet)
    try:
        quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True,
                         reduce_range=True, op_types_to_quantize=["MatMul"])
    finally:
        logging.getLogger().removeFilter(quiet)


def session_options(ort: Any, threads: int) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Idle intra-op threads sleep instead of spinning, leaving the cores to the event loop.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # no per-session optimizer notes in the proxy's log
    return options


def _open(ort: Any, path: Path, threads: int) -> Any:
    return ort.InferenceSession(str(path), session_options(ort, threads),
                                providers=["CPUExecutionProvider"])


def cached_session(weights: Path, cache_dir: Path, precision: Precision,
                   threads: int) -> tuple[Path, Any]:
    """The cached model's path and an InferenceSession on it; the model is built first when
    its file is absent or does not load (truncated, corrupt). int8 is quantized from the
    (cached) fp32 model."""
    ort = import_onnxruntime()
    path = cache_path(cache_dir, file_digest(weights), precision)
    if path.is_file():
        with contextlib.suppress(Exception):  # any load failure: rebuild below
            return path, _open(ort, path, threads)
    try:
        if precision == "fp32":
            _write_atomically(path, lambda out: _save_fp32(weights, out))
        else:
            fp32, _ = cached_session(weights, cache_dir, "fp32", 1)
            _write_atomically(path, lambda out: _quantize(fp32, out))
    except ImportError as exc:
        raise ClassifierConfigError(
            f"semantic encoder: building the ONNX model needs the onnx package ({exc.name}; "
            f"{INSTALL_HINT}), or use runtime: numpy") from None
    except OSError as exc:
        raise ClassifierConfigError(
            f"semantic encoder: could not write the ONNX model {path} ({exc}); check that "
            "onnx_cache_dir is writable, or use runtime: numpy") from None
    return path, _open(ort, path, threads)


class OnnxMiniLM:
    """What :class:`classifiers.semantic.minilm.MiniLM` offers (``encode``, ``tokenizer``),
    computed by an ONNX Runtime session with ``threads`` intra-op threads."""

    def __init__(self, model_dir: Path, cache_dir: Path, precision: Precision = "fp32",
                 threads: int = 1, max_tokens: int = 256) -> None:
        self.runtime = "onnx" if precision == "fp32" else "onnx-int8"
        self.path, self.session = cached_session(model_dir / "model.safetensors", cache_dir,
                                                 precision, threads)
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_tokens)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def encode(self, texts: list[str]) -> Array:
        """One unit-length 384-d embedding per text, as rows of a float32 matrix."""
        batch = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in batch], dtype=np.int64)
        mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
        out = self.session.run(["embedding"], {"input_ids": ids, "attention_mask": mask})[0]
        return np.asarray(out, dtype=np.float32)
