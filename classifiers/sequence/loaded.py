"""What a family's loader hands to the serving code, and the helpers loaders share."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classifiers.base import ClassifierConfigError


@dataclass(frozen=True, slots=True)
class LoadedModel:
    model: Any  # a transformers *ForSequenceClassification module, in eval mode
    tokenizer: Any
    class_names: tuple[str, ...]  # the model's output columns, in order
    fingerprint: str  # identifies the weights: a sha256 prefix or a hub name


def prepare_loading(family: str, device: str) -> None:
    """Checks the device and quiets transformers' progress bars (no bars in server logs)."""
    import torch
    from transformers.utils import logging as transformers_logging

    if device == "cuda" and not torch.cuda.is_available():
        raise ClassifierConfigError(f"{family}: device: cuda, but this torch build sees no GPU")
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


def require_matching_tokenizer(tokenizer: Any, vocab_size: int, folder: Any,
                               message: str) -> None:
    """A folder without tokenizer files still yields a tokenizer (of special tokens only).

    ``message`` is the error's frame, with ``{}`` where the problem goes."""
    if not 0.9 * vocab_size <= len(tokenizer) <= vocab_size:
        raise ClassifierConfigError(message.format(
            f"the tokenizer in {folder} has {len(tokenizer)} tokens but the model has "
            f"{vocab_size}; the folder needs the model's own tokenizer files (e.g. vocab.txt "
            f"and tokenizer_config.json)."))


def sha256_prefix(paths: Iterable[Path]) -> str:
    """The files' contents, in the order given, hashed together (16 hex digits)."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as file:
            while chunk := file.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def brief(exc: BaseException) -> str:
    """An exception as one short line, for a config error."""
    first_line = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
