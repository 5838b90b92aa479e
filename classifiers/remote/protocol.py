"""The Open Inference Protocol (KServe v2, REST) as our client speaks it, sans-IO.

Contracts. :func:`infer_body` (:func:`encoded_infer_body`: as JSON bytes) asks for one
output tensor for a BYTES input of shape [n]. :func:`read_scores` accepts only that output:
FP32 or FP64, shape [n, columns], ``data`` flat in row-major order (as the protocol says),
every value finite and within [0, 1]; anything else raises :class:`WireError`, whose message
describes the body and never quotes a text. :func:`read_metadata` checks a model's metadata
against our options and returns the output columns' names (the options' ``labels``, else the
``labels`` parameter a server publishes on the output tensor or the model, as our MLServer
runtime does) and its other parameters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from classifiers.base import well_formed
from classifiers.remote.options import RemoteOptions

FLOAT_TYPES = ("FP32", "FP64")


class WireError(ValueError):
    """A body that does not follow the protocol or does not fit the model we expect."""


def model_path(remote: RemoteOptions) -> str:
    version = f"/versions/{remote.model_version}" if remote.model_version else ""
    return f"/v2/models/{remote.model}{version}"


def infer_body(remote: RemoteOptions, texts: Sequence[str]) -> dict[str, Any]:
    return {"inputs": [{"name": remote.input_name, "shape": [len(texts)],
                        "datatype": "BYTES", "data": list(texts)}],
            "outputs": [{"name": remote.output_name}]}


def encoded_infer_body(remote: RemoteOptions, texts: Sequence[str]) -> bytes:
    """The request as JSON bytes. A lone surrogate (a str JSON can carry, UTF-8 cannot) is
    sent as U+FFFD, so one odd text does not fail the texts batched with it."""
    try:
        return orjson.dumps(infer_body(remote, texts))
    except orjson.JSONEncodeError:
        return orjson.dumps(infer_body(remote, [well_formed(text) for text in texts]))


@dataclass(frozen=True, slots=True)
class Scored:
    """One inference call's answer: a score vector per text, in column order."""

    vectors: list[list[float]]
    parameters: dict[str, Any] = field(default_factory=dict)  # e.g. inference_ms


def read_scores(body: Any, remote: RemoteOptions, texts: int, columns: int) -> Scored:
    output = _named(_list(body, "outputs"), remote.output_name, "outputs")
    if output.get("datatype") not in FLOAT_TYPES:
        raise WireError(f"output {remote.output_name!r} has datatype "
                        f"{_short(output.get('datatype'))}, not FP32 or FP64")
    if output.get("shape") != [texts, columns]:
        raise WireError(f"output {remote.output_name!r} has shape {_short(output.get('shape'))}"
                        f", expected [{texts}, {columns}]")
    data = output.get("data")
    if not isinstance(data, list) or len(data) != texts * columns:
        raise WireError(f"output {remote.output_name!r} data is not a flat list of "
                        f"{texts * columns} numbers")
    if not all(_a_score(value) for value in data):
        raise WireError(f"output {remote.output_name!r} holds a value that is not a finite "
                        "number within [0, 1]")
    vectors = [[float(v) for v in data[row * columns:(row + 1) * columns]]
               for row in range(texts)]
    parameters = body.get("parameters")
    return Scored(vectors, dict(parameters) if isinstance(parameters, dict) else {})


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """What a model's metadata tells us: its output columns and published parameters."""

    class_names: tuple[str, ...]
    parameters: dict[str, Any]


def read_metadata(body: Any, remote: RemoteOptions) -> ModelFacts:
    if not isinstance(body, dict):
        raise WireError("the model metadata is not a JSON object")
    inputs, outputs = body.get("inputs") or [], body.get("outputs") or []
    if inputs and remote.input_name not in _names(inputs):
        raise WireError(f"the model has no input {remote.input_name!r} (it has "
                        f"{_names(inputs)}); set remote.input_name")
    output: dict[str, Any] = {}
    if outputs:
        if remote.output_name not in _names(outputs):
            raise WireError(f"the model has no output {remote.output_name!r} (it has "
                            f"{_names(outputs)}); set remote.output_name")
        output = _named(outputs, remote.output_name, "outputs")
    model_parameters = _dict(body.get("parameters"))
    names = remote.labels or _labels(_dict(output.get("parameters")), model_parameters)
    shape = output.get("shape")
    if isinstance(shape, list) and shape and isinstance(shape[-1], int) and shape[-1] > 0 \
            and shape[-1] != len(names):
        raise WireError(f"output {remote.output_name!r} has {shape[-1]} columns, but "
                        f"{len(names)} labels are named")
    return ModelFacts(tuple(names), model_parameters)


def _labels(*parameters: dict[str, Any]) -> tuple[str, ...]:
    for found in parameters:
        labels = found.get("labels")
        if isinstance(labels, list) and labels and all(isinstance(x, str) for x in labels):
            return tuple(labels)
    raise WireError("the model's metadata publishes no labels (a 'labels' parameter on its "
                    "output or the model); list the output columns in remote.labels")


def _a_score(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and 0.0 <= value <= 1.0)


def _list(body: Any, key: str) -> list[Any]:
    found = body.get(key) if isinstance(body, dict) else None
    if not isinstance(found, list):
        raise WireError(f"the response has no {key!r} list")
    return found


def _named(tensors: list[Any], name: str, where: str) -> dict[str, Any]:
    for tensor in tensors:
        if isinstance(tensor, dict) and tensor.get("name") == name:
            return tensor
    raise WireError(f"{where} has no tensor named {name!r}")


def _names(tensors: list[Any]) -> list[str]:
    return [str(t.get("name"))[:64] for t in tensors if isinstance(t, dict)]


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _short(value: Any) -> str:
    """A protocol field as a message may show it: short, never a text we sent."""
    shown = repr(value)
    return shown if len(shown) <= 40 else f"a {type(value).__name__}"
