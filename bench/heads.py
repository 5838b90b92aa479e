"""``type: heads`` on sets it was NOT trained on: AUC and operating points, plus texts/s.

Measurement sets (never read by ``classifiers.heads.train``, never used for a threshold):
- XSTest prompts: unsafe (200) vs safe look-alikes (250): AUC; at the shipped threshold
  the unsafe and safe flag rates, and which safe prompt types are flagged;
- JailbreakBench attack prompts (non-null, deduplicated) vs XSTest safe prompts: AUC,
  TPR where 1% and 5% of the safe prompts score above (an operating point of this bench,
  not the shipped one), and the flag rate per attack method at the shipped threshold;
- HH-RLHF harmless test first user turns: unlabeled (red-team conversations, many benign
  openers), so only the flag rate at the shipped threshold;
- the measure half of awesome-chatgpt-prompts (``datasets.awesome_half``: long benign
  role-play and task prompts; the heads train on the other half): each head's flag rate,
  and for a head that reads passages (``jailbreak``) JailbreakBench against it (AUC, TPR
  at 1% FPR).
Every head is scored as the proxy reads an input by default: the text and each of its
windows, each with its sentences and chunks or its passages, as the head reads
(``datasets.read_by_proxy``), the highest winning.
Throughput: the classifier itself (encoder dominated), one ~25-word text per request, at
concurrency 1 and 16, cache off; and the seconds one 20,000-character input takes (prose
from the awesome-chatgpt-prompts measure half, with its windows, cache off), with every
head, the sentence-reading heads alone and the passage-reading ones alone.

Usage: [BENCH_THREADS=n] [BENCH_CACHE=/tmp/heads-measure] [BENCH_SETS=xstest,hh_rlhf]
       python -m bench.heads [data_dir]
(XSTest and HH-RLHF: a few minutes of one core; JailbreakBench's long prompts: about
20 minutes more; the cache skips the encoder on a rerun)
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from classifiers.heads import HeadsClassifier, datasets
from classifiers.heads.train import embed
from classifiers.heads.weights import Head, load_head, shipped_heads

DATA = Path(__file__).resolve().parents[2] / "shared/data"
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
CACHE = os.environ.get("BENCH_CACHE")
SETS = os.environ.get("BENCH_SETS", "xstest,jailbreakbench,hh_rlhf").split(",")


def score_all(heads: list[Head], texts: list[str]) -> dict[str, np.ndarray]:
    """The classifier's own arithmetic (Encoder.encode, then each head's sigmoid) on the
    whole set at once: per text, each head's highest score over every part the default
    proxy reads for that head (datasets.read_by_proxy); ``BENCH_CACHE`` (an .npz file)
    keeps embeddings between runs."""
    scores = {}
    for reading in sorted({head.reading for head in heads}):
        views = [datasets.read_by_proxy(text, reading) for text in texts]
        x = embed([view for text_views in views for view in text_views], THREADS,
                  Path(CACHE) if CACHE else None)
        first = np.cumsum([0] + [len(v) for v in views[:-1]])
        for head in heads:
            if head.reading == reading:
                scores[head.name] = np.maximum.reduceat(head.scores(x), first)
    return scores


def tpr_at_fpr(positive: np.ndarray, negative: np.ndarray, fpr: float) -> dict[str, float]:
    allowed = int(fpr * len(negative))  # negatives that may score strictly above
    threshold = float(np.sort(negative)[len(negative) - 1 - allowed])
    return {"tpr": round(float((positive > threshold).mean()), 4),
            "threshold": round(threshold, 4),
            "fpr_observed": round(float((negative > threshold).mean()), 4)}


def rate(mask: np.ndarray) -> float:
    return round(float(mask.mean()), 4) if len(mask) else 0.0


def xstest_figures(rows: list[datasets.Row], s: np.ndarray, threshold: float) -> dict[str, Any]:
    y = np.array([r.label for r in rows])
    flagged_safe = Counter(r.group.split(":", 1)[1] for r, v in zip(rows, s, strict=True)
                           if r.label == 0 and v > threshold)
    return {"auc": round(float(roc_auc_score(y, s)), 4),
            "unsafe_flagged": rate(s[y == 1] > threshold),
            "safe_flagged": rate(s[y == 0] > threshold),
            "safe_flagged_by_type": dict(flagged_safe.most_common()),
            "n_unsafe": int(y.sum()), "n_safe": int((y == 0).sum())}


def jbb_figures(rows: list[datasets.Row], s: np.ndarray, safe: np.ndarray,
                threshold: float) -> dict[str, Any]:
    by_method = {m: rate(np.array([v for r, v in zip(rows, s, strict=True) if r.group == m])
                         > threshold) for m in sorted({r.group for r in rows})}
    y = np.r_[np.ones(len(s)), np.zeros(len(safe))]
    return {"auc_vs_xstest_safe": round(float(roc_auc_score(y, np.r_[s, safe])), 4),
            "at_1pct_fpr": tpr_at_fpr(s, safe, 0.01), "at_5pct_fpr": tpr_at_fpr(s, safe, 0.05),
            "flagged_at_shipped_threshold": rate(s > threshold),
            "flagged_by_method": by_method, "n_prompts": len(s)}


async def throughput(concurrency: int, requests: int = 48) -> float:
    classifier = HeadsClassifier("bench", {"cache_size": 0, "threads": THREADS})
    await classifier.start()
    texts = [f"Request {i}: please explain how the water cycle works and why clouds form "
             f"over the ocean in summer, with two short examples for a class of {i} pupils."
             for i in range(requests)]
    queue = list(texts)

    async def client() -> None:
        while queue:
            await classifier.classify([queue.pop()])

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await classifier.close()
    return round(requests / elapsed, 1)


async def long_input_seconds(prose: str, chars: int = 20_000) -> dict[str, float]:
    """Seconds to score one long input as the default proxy hands it to the check (the
    text and its windows; cache off): with every shipped head, with the sentence-reading
    heads only, and with the passage-reading ones only."""
    text = prose[:chars]
    views = [text, *datasets.windows_of(text)]
    heads = [load_head(name) for name in shipped_heads()]
    groups = {"all": [h.name for h in heads],
              "sentences": [h.name for h in heads if h.reading == "sentences"],
              "passages": [h.name for h in heads if h.reading == "passages"]}
    out = {}
    for group, names in groups.items():
        classifier = HeadsClassifier("bench", {"heads": names, "cache_size": 0,
                                               "threads": THREADS})
        await classifier.start()
        await classifier.classify(["warm up"])
        started = time.perf_counter()
        await classifier.classify(views)
        out[group] = round(time.perf_counter() - started, 2)
        await classifier.close()
    return out


def unique(rows: list[datasets.Row]) -> list[datasets.Row]:
    return list({r.text: r for r in rows}.values())


def measurement_sets(data: Path) -> list[list[datasets.Row]]:
    return [datasets.measure_xstest(data), unique(datasets.measure_jailbreakbench(data)),
            unique(datasets.measure_hh_first_turns(data)),
            datasets.awesome_prompts(data, "measure")]


def roleplay_figures(jbb: np.ndarray | None, roleplay: np.ndarray,
                     threshold: float) -> dict[str, Any]:
    out: dict[str, Any] = {"roleplay_flagged": rate(roleplay > threshold),
                           "n_roleplay": len(roleplay)}
    if jbb is not None:
        y = np.r_[np.ones(len(jbb)), np.zeros(len(roleplay))]
        out["auc_jailbreakbench_vs_roleplay"] = round(float(roc_auc_score(
            y, np.r_[jbb, roleplay])), 4)
        out["jailbreakbench_at_1pct_roleplay_fpr"] = tpr_at_fpr(jbb, roleplay, 0.01)
    return out


async def main(data: Path) -> dict[str, Any]:
    heads = [load_head(name) for name in shipped_heads()]
    xstest, jbb, hh, roleplay = measurement_sets(data)
    files = {"xstest": "xstest/xstest_prompts.csv",
             "jailbreakbench": "jailbreakbench_artifacts/jbb_artifacts.jsonl",
             "hh_rlhf": "hh_rlhf_harmless_test/harmless_base_test.jsonl",
             "awesome": "awesome_chatgpt_prompts/prompts_dedup.csv (measure half)"}
    out: dict[str, Any] = {"data": str(data), "threads": THREADS, "not_trained_on": [
        f for key, f in files.items() if key in ("xstest", "awesome") or key in SETS]}
    xs = score_all(heads, [r.text for r in xstest])
    jb = score_all(heads, [r.text for r in jbb]) if "jailbreakbench" in SETS else {}
    hs = score_all(heads, [r.text for r in hh]) if "hh_rlhf" in SETS else {}
    rp = score_all(heads, [r.text for r in roleplay])
    reads = {h.name: h.reading for h in heads}
    for head, threshold in ((h.name, h.threshold) for h in heads):
        safe = xs[head][[r.label == 0 for r in xstest]]
        out[head] = {"shipped_threshold": threshold,
                     "xstest": xstest_figures(xstest, xs[head], threshold)}
        if jb:
            out[head]["jailbreakbench_vs_xstest_safe"] = jbb_figures(
                jbb, jb[head], safe, threshold)
        if hs:
            out[head]["hh_rlhf_first_turn_flagged"] = rate(hs[head] > threshold)
        out[head]["awesome_measure_half"] = roleplay_figures(
            jb[head] if jb and reads[head] == "passages" else None, rp[head], threshold)
    out["texts_per_s"] = {f"c={c}": await throughput(c) for c in (1, 16)}
    out["seconds_for_a_20000_character_input"] = await long_input_seconds(
        " ".join(r.text for r in roleplay))
    return out


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else DATA
    print(json.dumps(asyncio.run(main(folder)), indent=2))
