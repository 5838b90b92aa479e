"""Loads a Detoxify model through Detoxify's own code, with one clear error per bad file.

Three ways, from most to least self-contained:

* ``checkpoint`` + ``huggingface_config_path``: no network at all. The checkpoint is read
  here, then Detoxify's ``get_model_and_tokenizer`` builds the model with the local folder
  as its ``model_type``. (Detoxify's ``load_checkpoint`` would first fetch the config of the
  checkpoint's hub name, e.g. ``bert-base-uncased``, even when given a local folder.)
* ``checkpoint`` only: Detoxify's ``load_checkpoint``; the config and tokenizer come from
  the Hugging Face hub or its local cache.
* neither: Detoxify downloads the published weights for ``model`` (cached by torch.hub).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from classifiers.base import ClassifierConfigError
from classifiers.detoxify.options import DetoxifyOptions
from classifiers.sequence.loaded import (
    LoadedModel,
    brief,
    prepare_loading,
    require_matching_tokenizer,
    sha256_prefix,
)

HOW_TO_PROVIDE = (
    "To provide weights: download them once on a machine with internet access (e.g. "
    "`python -c \"from detoxify import Detoxify; Detoxify('original')\"` saves the .ckpt file "
    "under ~/.cache/torch/hub/checkpoints/), mount or copy that file and the model's "
    "Hugging Face config and tokenizer folder onto this machine, and point the check's "
    "`checkpoint:` and `huggingface_config_path:` options at them."
)


def load(options: DetoxifyOptions) -> LoadedModel:
    """Runs off the event loop (reads and hashes hundreds of MB)."""
    prepare_loading("detoxify", options.device)
    if options.checkpoint is None:
        return _from_hub(options)
    if options.huggingface_config_path is None:
        return _from_checkpoint(options, _existing(options.checkpoint, "checkpoint file"))
    return _offline(options, _existing(options.checkpoint, "checkpoint file"))


def _from_hub(options: DetoxifyOptions) -> LoadedModel:
    from detoxify.detoxify import load_checkpoint

    config = options.huggingface_config_path
    try:
        model, tokenizer, classes = load_checkpoint(
            model_type=options.model, device=options.device,
            huggingface_config_path=str(config) if config else None,
        )
    except Exception as exc:
        raise ClassifierConfigError(
            f"detoxify: could not download the published {options.model!r} weights "
            f"({brief(exc)}). {HOW_TO_PROVIDE}"
        ) from None
    return LoadedModel(model, tokenizer, tuple(classes), f"hub-{options.model}")


def _from_checkpoint(options: DetoxifyOptions, path: Path) -> LoadedModel:
    from detoxify.detoxify import load_checkpoint

    try:
        model, tokenizer, classes = load_checkpoint(checkpoint=str(path), device=options.device)
    except Exception as exc:
        raise ClassifierConfigError(
            f"detoxify: cannot load checkpoint {path} with the config and tokenizer from the "
            f"Hugging Face hub ({brief(exc)}); offline, also set huggingface_config_path. "
            f"{HOW_TO_PROVIDE}"
        ) from None
    return LoadedModel(model, tokenizer, tuple(classes), sha256_prefix([path]))


def _offline(options: DetoxifyOptions, path: Path) -> LoadedModel:
    from detoxify.detoxify import get_model_and_tokenizer

    folder = _existing(options.huggingface_config_path, "huggingface_config_path folder")
    if not (folder / "config.json").is_file():
        raise ClassifierConfigError(
            f"detoxify: {folder} has no config.json (the transformer config of the checkpoint's "
            f"model, e.g. bert-base-uncased). {HOW_TO_PROVIDE}"
        )
    checkpoint = _read_checkpoint(path, options.device)
    arch = {**checkpoint["config"]["arch"]["args"], "model_type": str(folder)}
    try:
        model, tokenizer = get_model_and_tokenizer(**arch, state_dict=checkpoint["state_dict"])
    except Exception as exc:
        raise ClassifierConfigError(
            f"detoxify: cannot build the model of {path} from the config and tokenizer in "
            f"{folder} ({brief(exc)}). {HOW_TO_PROVIDE}"
        ) from None
    _require_all_weights(model, checkpoint["state_dict"], path, folder)
    require_matching_tokenizer(tokenizer, model.config.vocab_size, folder,
                               f"detoxify: {{}} {HOW_TO_PROVIDE}")
    classes = tuple(checkpoint["config"]["dataset"]["args"]["classes"])
    return LoadedModel(model, tokenizer, classes, sha256_prefix([path]))


def _read_checkpoint(path: Path, device: str) -> dict[str, Any]:
    """A Detoxify checkpoint: {"config": {"arch": ..., "dataset": ...}, "state_dict": ...}.

    Like Detoxify itself this unpickles the file: only load checkpoints you trust.
    """
    import torch

    try:
        checkpoint: dict[str, Any] = torch.load(path, map_location=device, weights_only=False)
        checkpoint["config"]["arch"]["args"]["model_name"]
        checkpoint["config"]["dataset"]["args"]["classes"]
        checkpoint["state_dict"].items()
    except Exception as exc:
        raise ClassifierConfigError(
            f"detoxify: {path} is not a Detoxify checkpoint ({brief(exc)}). {HOW_TO_PROVIDE}"
        ) from None
    return checkpoint


def _require_all_weights(model: Any, state_dict: dict[str, Any], path: Path, folder: Path) -> None:
    """transformers fills missing weights with random ones and only warns; we refuse."""
    missing = [
        key for key in model.state_dict()
        if key not in state_dict and not key.endswith("position_ids")
    ]
    if missing:
        raise ClassifierConfigError(
            f"detoxify: {path} lacks {len(missing)} weights of the model that {folder}/config.json "
            f"describes (first: {missing[0]}); the folder must belong to the checkpoint's "
            f"model. {HOW_TO_PROVIDE}"
        )


def _existing(path: Path | None, what: str) -> Path:
    if path is None:
        raise ClassifierConfigError(f"detoxify: {what} not set. {HOW_TO_PROVIDE}")
    path = path.expanduser()
    if not path.exists():
        raise ClassifierConfigError(f"detoxify: {what} {path} does not exist. {HOW_TO_PROVIDE}")
    return path

