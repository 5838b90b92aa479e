"""The OpenAI Moderations API (``POST /v1/moderations``), sans-IO: served by the proxy
itself with its input checks and policy, never forwarded upstream.

Contract: ``parse_request`` reads ``input`` as OpenAI does: a string (one input), an array
of strings (one input each), or an array of multimodal parts ``{"type": "text"}`` /
``{"type": "image_url"}`` (ONE input for the whole array); images are counted as
unreadable and kept (``images``: their URLs) for the text in them to be read
(routes/moderations.py). Any other shape is a BadRequest naming ``input``.
``result`` renders one input's verdict in the omni-moderation shape, with categories keyed
``check.label`` and a non-standard ``safety`` object that tells flag from block.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from proxy.protocol.errors import BadRequest
from proxy.protocol.fields import load_object
from proxy.protocol.safety import safety_object
from proxy.verdict import Decision

DEFAULT_MODEL = "safety-proxy"
_SHAPE = ("'input' must be a string, an array of strings, or an array of "
          "{\"type\": \"text\"} / {\"type\": \"image_url\"} parts")


@dataclass(frozen=True, slots=True)
class ModerationRequest:
    body: dict[str, Any]
    model: str | None
    inputs: tuple[tuple[str, ...], ...]  # per input (per result), the texts to score
    unreadable: int = 0  # image parts: counted; the picture is never scored
    images: tuple[str, ...] = ()  # their URLs (data: URLs are read by OCR), in order


def parse_request(raw: bytes) -> ModerationRequest:
    """The request as a list of inputs; BadRequest (with ``param``) on what OpenAI rejects."""
    body = load_object(raw)
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise BadRequest("'model' must be a string", param="model")
    value = body.get("input")
    if isinstance(value, str):
        return ModerationRequest(body, model, ((value,),))
    if not isinstance(value, list) or not value:
        raise BadRequest(_SHAPE, param="input")
    if all(isinstance(item, str) for item in value):
        return ModerationRequest(body, model, tuple((item,) for item in value))
    texts, images = _multimodal(value)
    return ModerationRequest(body, model, (texts,), unreadable=len(images), images=images)


def _multimodal(parts: list[Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The text parts' texts and the image parts' URLs of one multimodal input."""
    texts: list[str] = []
    images: list[str] = []
    for part in parts:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url" and isinstance(part.get("image_url"), dict) and isinstance(
                part["image_url"].get("url"), str):
            images.append(part["image_url"]["url"])
        else:
            raise BadRequest(_SHAPE, param="input")
    return tuple(texts), tuple(images)


def result(decision: Decision, scores: Mapping[str, Mapping[str, float]],
           labels: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """One input's result. ``labels``: check -> its labels (every input check's, so each
    result has the same keys); ``scores``: this input's check -> label -> max score (a
    label absent, from a failed check or an input with nothing to score, scores 0)."""
    keys = [(check, label) for check, names in labels.items() for label in names]
    crossed = {(r.classifier, r.label) for r in decision.reasons if r.score is not None}
    return {
        "flagged": decision.action != "allow",
        "categories": {f"{c}.{n}": (c, n) in crossed for c, n in keys},
        "category_scores": {f"{c}.{n}": scores.get(c, {}).get(n, 0.0) for c, n in keys},
        "category_applied_input_types": {f"{c}.{n}": ["text"] for c, n in keys},
        "safety": safety_object("input", decision),
    }


def response_body(request_id: str, model: str | None,
                  results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"id": f"modr-{request_id}", "model": model or DEFAULT_MODEL, "results": list(results)}
