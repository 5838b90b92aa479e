"""The shipped head files: plain numbers in JSON, loaded and validated, scored with NumPy.

A head file (``weights/<head>.json``, written by ``python -m classifiers.heads.train``)
holds a logistic regression on the encoder's unit-length 384-d embedding::

    {"format": "safety-proxy-head/1", "head": "harmful_request", "direction": "input",
     "encoder": {"name": "sentence-transformers/all-MiniLM-L6-v2", "dim": 384, ...},
     "coef": [384 floats], "intercept": float,
     "threshold": float, "threshold_rule": "...", "block_threshold": float,
     "reading": "sentences", "training": {...provenance...}}

``threshold`` and ``block_threshold`` are the suggested flag and block thresholds, chosen
on held-out training data only (the embedded defaults use them; a test keeps them equal).

score = sigmoid(coef . embedding + intercept), in [0, 1]. ``direction`` (input, output,
both) says where the head was meant to run. ``reading`` says which parts of a text it
scores, as it was trained: ``sentences`` (the default: the text and, where the check reads
them, its sentences and chunks, the highest winning: one hateful clause is hate whatever
surrounds it) or ``passages`` (the text and its overlapping passages of a few dozen words,
never a sentence alone: what makes a jailbreak is a framing that no one sentence carries,
and a sentence of a harmless role-play out of its context reads like one; passages keep
padding from diluting the framing). No scikit-learn at run time.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.base import ClassifierConfigError

FORMAT = "safety-proxy-head/1"
ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIM = 384
READINGS = ("sentences", "passages")
WEIGHTS_DIR = Path(__file__).with_name("weights")


@dataclass(frozen=True)
class Head:
    name: str
    direction: str
    coef: np.ndarray  # float64, shape (DIM,)
    intercept: float
    threshold: float  # suggested policy threshold (chosen on training data only)
    digest: str  # sha256 of the file's bytes: part of the classifier's version
    reading: str = "sentences"  # one of READINGS

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        """Probabilities for a (n, DIM) matrix of unit-length embeddings."""
        logits = embeddings.astype(np.float64) @ self.coef + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(logits, -50.0, 50.0))), dtype=np.float64)


def shipped_heads() -> list[str]:
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.json"))


def load_head(name: str, directory: Path = WEIGHTS_DIR) -> Head:
    path = directory / f"{name}.json"
    if not path.is_file():
        raise ClassifierConfigError(
            f"no shipped head {name!r}; shipped heads: {', '.join(shipped_heads()) or 'none'}")
    raw = path.read_bytes()
    try:
        spec = json.loads(raw)
    except ValueError as exc:
        raise ClassifierConfigError(f"{path}: not JSON ({exc})") from exc
    return parse_head(spec, hashlib.sha256(raw).hexdigest(), where=str(path))


def parse_head(spec: Any, digest: str, where: str) -> Head:
    """Validates a head file's content; every defect is a ClassifierConfigError naming it."""
    def fail(why: str) -> ClassifierConfigError:
        return ClassifierConfigError(f"{where}: {why}")

    if not isinstance(spec, dict) or spec.get("format") != FORMAT:
        raise fail(f"format must be {FORMAT!r}")
    encoder = spec.get("encoder")
    if not isinstance(encoder, dict) or encoder.get("name") != ENCODER_NAME \
            or encoder.get("dim") != DIM:
        raise fail(f"trained on another encoder ({encoder!r}); this build runs {ENCODER_NAME}")
    coef = np.asarray(spec.get("coef"), dtype=np.float64)
    if coef.shape != (DIM,) or not np.isfinite(coef).all():
        raise fail(f"coef must be {DIM} finite numbers, got shape {coef.shape}")
    numbers = {key: spec.get(key) for key in ("intercept", "threshold")}
    for key, value in numbers.items():
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value):
            raise fail(f"{key} must be a finite number, got {value!r}")
    if not 0.0 < float(spec["threshold"]) < 1.0:
        raise fail(f"threshold must be in (0, 1), got {spec['threshold']!r}")
    if spec.get("direction") not in ("input", "output", "both"):
        raise fail(f"direction must be input, output or both, got {spec.get('direction')!r}")
    reading = spec.get("reading", "sentences")
    if reading not in READINGS:
        raise fail(f"reading must be {' or '.join(READINGS)}, got {reading!r}")
    return Head(str(spec.get("head")), spec["direction"], coef, float(spec["intercept"]),
                float(spec["threshold"]), digest, reading)
