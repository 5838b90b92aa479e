"""The torch runtime on a GPU with CUDA graphs: a forward pass replayed, not launched op by op.

An eager forward pass of a 12-layer encoder launches a few hundred kernels, each from
Python: on a GPU that is a few milliseconds of CPU per pass whatever its size, with the
interpreter lock held while the tokenizer thread and the event loop wait for it. A CUDA
graph records a pass's kernels once per input shape and replays them in one call, the lock
released while the GPU runs.

Contract: the scores of :class:`TorchScorer` on the same inputs, within the precision's
rounding. A graph has fixed shapes, so a pass is padded up to a bucket (:class:`Buckets`):
its rows to a power of two (the extra rows are one-token rows whose outputs nobody reads),
its width to one of a few lengths (the extra positions masked, as the encoder's own padding
is). Every bucket's graph is captured at start-up (:meth:`GraphedScorer.capture_all`: about
ninety for a 512-token model, each one eager pass and its capture); all graphs share one
memory pool, which is safe because one thread replays them one at a time and copies each
output out before the next replay. A model whose pass cannot be
captured (it reads a tensor's value on the host) runs eagerly from then on, with a warning.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np

from classifiers.sequence.activation import Activation, activate
from classifiers.sequence.torch_runtime import TorchScorer

log = logging.getLogger(__name__)

# Widths a graph is captured for (tokens per row): about 1.5x apart, so a pass pads at most
# half its width again and a model with a 512-token window needs ten widths.
WIDTHS = (16, 32, 48, 64, 96, 128, 192, 256, 384, 512)


class Buckets:
    """Pads a pass's inputs up to the shape its graph was captured for (pure NumPy)."""

    def __init__(self, *, max_rows: int, max_tokens: int, window: int, pad_id: int) -> None:
        """``max_rows`` and ``max_tokens``: the batcher's bounds of one pass; ``window``: the
        model's widest row; ``pad_id``: the tokenizer's padding token."""
        self.max_rows, self.max_tokens, self.pad_id = max_rows, max_tokens, pad_id
        self.widths = tuple(sorted({w for w in WIDTHS if w < window} | {window}))

    def shape(self, rows: int, width: int) -> tuple[int, int]:
        """The bucket of a ``rows`` x ``width`` pass: the narrowest listed width that holds
        it, and rows rounded up to a power of two unless that would take the pass past
        ``max_tokens`` padded tokens or ``max_rows`` (then as many rows as the bounds
        allow, never fewer than ``rows``)."""
        wide = next((w for w in self.widths if w >= width), width)
        power = 1 << max(0, rows - 1).bit_length()
        return max(rows, min(power, self.max_rows, self.max_tokens // wide)), wide

    def shapes(self) -> list[tuple[int, int]]:
        """Every bucket a pass of at most ``max_rows`` rows and ``max_tokens`` padded tokens
        can fall in, the largest first (a pass wider than its bucket's token bound allows
        gets a shape of its own, captured when first met)."""
        found = set()
        for width in self.widths:
            cap = min(self.max_rows, self.max_tokens // width)
            rows = 1
            while rows < cap:
                found.add((rows, width))
                rows *= 2
            if cap >= 1:
                found.add((cap, width))
        return sorted(found, key=lambda shape: (-shape[0] * shape[1], shape))

    def pad(self, inputs: dict[str, np.ndarray], shape: tuple[int, int]) -> dict[str, np.ndarray]:
        """``inputs`` (rows x width arrays, right-padded) placed in arrays of ``shape``:
        extra positions are padding under a zero mask; each extra row is a single
        unmasked padding token (a row with no unmasked position would be 0/0 in
        attention's softmax: NaNs nobody reads, but NaNs all the same)."""
        rows, width = next(iter(inputs.values())).shape
        padded: dict[str, np.ndarray] = {}
        for name, array in inputs.items():
            fill = self.pad_id if name == "input_ids" else 0
            out = np.full(shape, fill, dtype=array.dtype)
            out[:rows, :width] = array
            if name == "attention_mask":
                out[rows:, 0] = 1
            padded[name] = out
        return padded


class _Graph:
    """One captured pass: its static input tensors and the output it writes."""

    def __init__(self, graph: Any, inputs: dict[str, Any], output: Any) -> None:
        self.graph, self.inputs, self.output = graph, inputs, output


class GraphedScorer:
    """Padded inputs -> probabilities like TorchScorer, each pass a CUDA graph replay.

    Called by one thread at a time (the batcher's model thread); ``captured_shapes`` may
    be read from others.
    """

    def __init__(self, model: Any, device: str, activation: Activation, buckets: Buckets,
                 input_names: tuple[str, ...], max_graphs: int = 128) -> None:
        self._eager = TorchScorer(model, device, activation)
        self._model, self._device, self._activation = model, device, activation
        self._input_names = input_names
        self._buckets, self._max_graphs = buckets, max_graphs
        self._graphs: dict[tuple[int, int], _Graph] = {}
        self._pool: Any = None  # the memory pool every graph shares
        self._broken = False  # a capture failed: eager from then on
        self._lock = threading.Lock()  # held while capturing or replaying

    @property
    def captured_shapes(self) -> list[tuple[int, int]]:
        return sorted(self._graphs)

    def capture_all(self) -> int:
        """Captures every bucket's graph now (at start-up: a capture met while serving would
        hold a pass up by a few passes' time); how many there are."""
        with self._lock:
            for shape in self._buckets.shapes():
                if shape not in self._graphs and self._capture(shape) is None:
                    break
            return len(self._graphs)

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        rows, width = next(iter(inputs.values())).shape
        shape = self._buckets.shape(rows, width)
        with self._lock:
            graph = self._graphs.get(shape) or self._capture(shape)
            if graph is None:
                return self._eager(inputs)
            return self._replay(graph, self._buckets.pad(inputs, shape), rows)

    def _replay(self, graph: _Graph, inputs: dict[str, np.ndarray], rows: int) -> np.ndarray:
        import torch

        for name, static in graph.inputs.items():
            static.copy_(torch.from_numpy(inputs[name]))
        graph.graph.replay()
        logits = graph.output[:rows].float().cpu().numpy()
        return activate(logits, self._activation)

    def _capture(self, shape: tuple[int, int]) -> _Graph | None:
        """The graph of ``shape``, captured now; None when graphs are off for this model
        (a capture failed) or full (``max_graphs``: later shapes run eagerly)."""
        if self._broken or len(self._graphs) >= self._max_graphs:
            return None
        import torch

        empty = {name: np.zeros((0, 1), dtype=np.int64) for name in self._input_names}
        static = {name: torch.from_numpy(array).to(self._device)
                  for name, array in self._buckets.pad(empty, shape).items()}
        try:
            with torch.inference_mode():
                side = torch.cuda.Stream()  # type: ignore[no-untyped-call]  # warm-up off the capture stream
                side.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(side):
                    self._model(**static)
                torch.cuda.current_stream().wait_stream(side)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, pool=self._pool):
                    output = self._model(**static).logits
        except Exception as exc:  # e.g. a host read of a tensor inside the forward pass
            self._broken = True
            log.warning("CUDA graphs off for this model (capture failed: %s: %s); "
                        "running it eagerly", type(exc).__name__, exc)
            return None
        if self._pool is None:
            self._pool = graph.pool()
        self._graphs[shape] = _Graph(graph, static, output)
        return self._graphs[shape]
