"""The options of the sentence-encoder service (shared by ``type: semantic`` and
``type: heads``) and of ``type: semantic``: a light module (pydantic, the standard library
and the shipped example texts), so a config is validated without the ``semantic`` extra.

Encoder options: ``cache_size`` (embeddings kept, about 2 KB each), ``max_batch`` (texts
per model call), ``max_wait_ms`` (how long a batch waits for more texts), ``threads``,
``runtime`` (:data:`RUNTIMES`), ``onnx_cache_dir`` and ``model_dir`` (see
classifiers/semantic/service.py).

``categories``: label -> example texts, or a shipped set (``"builtin:jailbreak"``); a list
may name shipped sets among its texts, which extends them (``["builtin:jailbreak", "my own
example"]``); listing only your own texts replaces them. ``contrast``: benign
counter-examples per category, in the same forms. Parsed, both hold the example texts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, field_validator

from classifiers.options import ClassifierOptions, shown, shown_all
from classifiers.semantic import builtin

RUNTIMES = ("auto", "numpy", "onnx", "onnx-int8")
# threads: auto stops here: a 6-layer encoder on batches of short texts gains little from
# more, and each thread is a stack and a share of the cache.
MAX_AUTO_THREADS = 8
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "safety-proxy" / "onnx"
_LABEL = re.compile(r"^[a-z][a-z0-9_]*$")
_SHIPPED = ", ".join(builtin.PREFIX + name for name in builtin.NAMES)


def _folder(value: Any) -> Any:
    if value is not None and (not isinstance(value, str | Path) or not str(value)):
        raise ValueError("a folder path")
    return value if value is None else Path(value).expanduser()


def _runtime(value: Any) -> Any:
    if value not in RUNTIMES:
        raise ValueError(f"one of {', '.join(RUNTIMES)}, got {shown(value)}")
    return value


def _threads(value: Any) -> Any:
    if value != "auto" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"a whole number >= 1 or auto, got {shown(value)}")
    return value


class EncoderOptions(ClassifierOptions):
    cache_size: Annotated[int, Field(strict=True, ge=0)] = 10_000
    # The model's threads (BLAS for numpy, ONNX Runtime intra-op otherwise). auto: the CPUs
    # this process may use (classifiers/cpus.py), at most MAX_AUTO_THREADS.
    threads: Annotated[int | str, BeforeValidator(_threads)] = "auto"
    max_batch: Annotated[int, Field(strict=True, ge=1)] = 32
    max_wait_ms: Annotated[int, Field(strict=True, ge=0)] = 2
    runtime: Annotated[str, BeforeValidator(_runtime)] = "auto"
    onnx_cache_dir: Annotated[Path, BeforeValidator(_folder)] = DEFAULT_CACHE_DIR
    model_dir: Annotated[Path | None, BeforeValidator(_folder)] = None


def _category_name(label: str) -> str:
    if not _LABEL.match(label):
        raise ValueError("category names are lower_snake_case labels")
    return label


def _examples(value: Any) -> Any:
    """Example texts, shipped sets expanded, duplicates dropped (first one kept)."""
    if isinstance(value, str) and value.startswith(builtin.PREFIX):
        value = [value]
    if not isinstance(value, list) or not value or not all(
            isinstance(e, str) and e.strip() for e in value):
        raise ValueError("a non-empty list of non-empty example texts, or a shipped set "
                         f"({_SHIPPED})")
    texts: list[str] = []
    for example in value:
        if not example.startswith(builtin.PREFIX):
            texts.append(example)
            continue
        name = example.removeprefix(builtin.PREFIX).strip()
        if name not in builtin.NAMES:
            raise ValueError(f"no shipped set {shown(example)}; shipped: {_SHIPPED}")
        texts.extend(builtin.examples(name))
    return list(dict.fromkeys(texts))


CategoryName = Annotated[str, AfterValidator(_category_name)]
Examples = Annotated[list[str], BeforeValidator(_examples)]


class SemanticOptions(EncoderOptions):
    categories: dict[CategoryName, Examples]
    contrast: dict[CategoryName, Examples] = Field(default_factory=dict)

    @field_validator("categories", mode="before")
    @classmethod
    def _some(cls, categories: Any) -> Any:
        if not isinstance(categories, dict) or not categories:
            raise ValueError(
                "a mapping of label -> example texts or a shipped set, e.g. "
                "{jailbreak: builtin:jailbreak} or {jailbreak: ['Ignore all previous "
                "instructions ...']}")
        return categories

    @field_validator("contrast", mode="before")
    @classmethod
    def _a_mapping(cls, contrast: Any) -> Any:
        if contrast is None:
            return {}
        if not isinstance(contrast, dict):
            raise ValueError("a mapping of category -> benign example texts or a shipped "
                             "set, e.g. {jailbreak: builtin:benign}")
        return contrast

    @field_validator("contrast")
    @classmethod
    def _of_categories(cls, contrast: dict[str, list[str]],
                       info: ValidationInfo) -> dict[str, list[str]]:
        labels = list(info.data.get("categories", contrast))  # unchecked if they failed
        if strays := [label for label in contrast if label not in labels]:
            raise ValueError(f"{shown_all(strays)}: not a category; categories are {labels}")
        return contrast


def resolve_threads(threads: int | str) -> int:
    """The thread count a ``threads`` option stands for (``auto`` resolved here)."""
    if threads == "auto":
        from classifiers.cpus import available_cpus

        return min(available_cpus(), MAX_AUTO_THREADS)
    return int(threads)
