"""The options of a ``type: detoxify`` check: which model, plus the shared serving options.

A light module (pydantic and the standard library): the config is validated without the
``detoxify`` extra installed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from classifiers.options import parse_options as parse
from classifiers.sequence.options import ONNX_CACHE_ROOT, ServingOptions

ModelName = Literal["original", "unbiased", "multilingual", "original-small", "unbiased-small"]


class DetoxifyOptions(ServingOptions):
    family: ClassVar[str] = "detoxify"

    # Which published Detoxify model; downloaded by Detoxify when `checkpoint` is not set.
    model: ModelName = "original"
    # A local Detoxify checkpoint (.ckpt) and the folder with its transformer config and
    # tokenizer files: together they load with no network at all.
    checkpoint: Path | None = None
    huggingface_config_path: Path | None = None
    onnx_cache_dir: Path = ONNX_CACHE_ROOT / "detoxify-onnx"


def parse_options(check_name: str, raw: Mapping[str, Any]) -> DetoxifyOptions:
    """For tools that serve a Detoxify model outside a config (bench, fetch)."""
    return parse(DetoxifyOptions, check_name, "detoxify", raw)
