"""Loads a sequence-classification model and its tokenizer with transformers' Auto classes.

``model`` is a local folder (loaded with ``local_files_only``: nothing touches the network)
or a hub id (downloaded once into the Hugging Face cache, ``~/.cache/huggingface``). Every
bad folder or unreachable hub id is one ClassifierConfigError that says how to provide it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from classifiers.base import ClassifierConfigError
from classifiers.hf.labels import class_names
from classifiers.hf.options import TransformersOptions
from classifiers.sequence import loaded as serving
from classifiers.sequence.loaded import LoadedModel, brief

HOW_TO_PROVIDE = (
    "To provide a model: on a machine with internet access run `hf download <hub id> "
    "--local-dir /srv/models/<name>` (or save_pretrained both the model and its tokenizer "
    "into one folder), copy or mount that folder onto this machine, and set the check's "
    "`model:` option to the folder's path."
)
# What a folder's fingerprint covers besides the weights: what shapes the scores.
CONFIG_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
                "vocab.json", "merges.txt", "spm.model", "sentencepiece.bpe.model",
                "special_tokens_map.json", "added_tokens.json")


def load(options: TransformersOptions) -> LoadedModel:
    """Runs off the event loop (reads and hashes hundreds of MB)."""
    serving.prepare_loading("transformers", options.device)
    source = model_source(options.model)
    if isinstance(source, Path):
        if options.revision is not None:
            raise ClassifierConfigError(
                f"transformers: revision applies to a hub id; {source} is a local folder")
        weights = _folder_weights(source)
        model, tokenizer = _from_pretrained(str(source), local_files_only=True)
        fingerprint = serving.sha256_prefix([*weights, *_config_files(source)])
    else:
        model, tokenizer = _from_pretrained(source, revision=options.revision)
        commit = getattr(model.config, "_commit_hash", None) or options.revision or "main"
        fingerprint = f"hub:{source}@{commit}"
    return LoadedModel(model, tokenizer, class_names(model.config), fingerprint)


def model_source(model: str) -> Path | str:
    """The folder, or the hub id; a path-like name of no folder is an error."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if path.exists() or model.startswith(("/", ".", "~")) or model.count("/") > 1:
        raise ClassifierConfigError(
            f"transformers: model folder {path} does not exist or is not a folder. "
            f"{HOW_TO_PROVIDE}")
    return model


def _from_pretrained(source: str, **where: Any) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **where)
        model, info = AutoModelForSequenceClassification.from_pretrained(
            source, dtype=torch.float32, output_loading_info=True, **where)
    except Exception as exc:
        what = (f"cannot load the model in {source}" if where.get("local_files_only")
                else f"could not fetch {source!r} from the Hugging Face hub")
        raise ClassifierConfigError(f"transformers: {what} ({brief(exc)}). {HOW_TO_PROVIDE}"
                                    ) from None
    missing = [key for key in info["missing_keys"] if not key.endswith("position_ids")]
    if missing:  # transformers fills them with random weights and only warns; we refuse
        raise ClassifierConfigError(
            f"transformers: {source} lacks {len(missing)} weights of a sequence classifier "
            f"(first: {missing[0]}): is it a base model without a classification head?")
    serving.require_matching_tokenizer(tokenizer, model.config.vocab_size, source,
                                       f"transformers: {{}} {HOW_TO_PROVIDE}")
    return model, tokenizer


def _folder_weights(folder: Path) -> list[Path]:
    if not (folder / "config.json").is_file():
        raise ClassifierConfigError(
            f"transformers: {folder} has no config.json (a model folder holds what "
            f"save_pretrained writes). {HOW_TO_PROVIDE}")
    weights = (sorted(folder.glob("*.safetensors"))
               or sorted(folder.glob("pytorch_model*.bin")))
    if not weights:
        raise ClassifierConfigError(
            f"transformers: {folder} has no weights (model.safetensors or pytorch_model.bin). "
            f"{HOW_TO_PROVIDE}")
    return weights


def _config_files(folder: Path) -> list[Path]:
    return [folder / name for name in CONFIG_FILES if (folder / name).is_file()]
