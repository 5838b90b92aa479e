"""The sentence encoder's runtimes (numpy, onnx, onnx-int8): speed served, and accuracy.

Speed: each runtime served through EmbeddingService (micro-batched on its worker thread)
with the embedding cache off (cache_size 0), for short texts (XSTest prompts, ~8 words)
and medium texts (awesome-chatgpt prompts cut to their first 60 words), at concurrency 1
and 16 (asyncio clients, each awaiting the embedding of one text at a time), with threads
1 and 2: texts/s and per-request p50/p99 latency, medians of ``BENCH_RUNS`` runs of
``BENCH_REQUESTS`` requests.

Accuracy: onnx and onnx-int8 embeddings against numpy's (cosine, max abs difference) on
XSTest and 300 of the medium texts; the shipped harmful_request head's scores on XSTest per
runtime (AUC for unsafe vs safe, max abs difference from numpy, verdicts that change at
the shipped threshold); nearest-neighbour agreement of int8 with fp32.

Usage: [BENCH_REQUESTS=96] [BENCH_RUNS=3] [BENCH_CACHE_DIR=...] python -m bench.encoder [data]
(about 5 minutes on 2 idle cores; figures on a shared machine are noisy: see "load")
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from classifiers.heads.weights import load_head
from classifiers.semantic.encoder import load_encoder
from classifiers.semantic.service import EmbeddingService

DATA = Path(__file__).resolve().parents[2] / "shared/data"
RUNTIMES = ("numpy", "onnx", "onnx-int8")
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "96"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
CACHE_DIR = Path(os.environ.get("BENCH_CACHE_DIR") or tempfile.mkdtemp(prefix="bench-onnx-"))


def read_csv(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(1 << 24)
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def text_sets(data: Path) -> tuple[list[dict[str, str]], dict[str, list[str]]]:
    xstest = read_csv(data / "xstest/xstest_prompts.csv")
    prompts = read_csv(data / "awesome_chatgpt_prompts/prompts_dedup.csv")
    medium = [" ".join(r["prompt"].split()[:60]) for r in prompts if len(r["prompt"].split()) >= 60]
    return xstest, {"short": [r["prompt"] for r in xstest], "medium": medium}


async def one_run(service: EmbeddingService, texts: list[str],
                  concurrency: int) -> tuple[float, list[float]]:
    queue = list(reversed(texts[:REQUESTS]))
    latencies: list[float] = []

    async def client() -> None:
        while queue:
            text = queue.pop()
            started = time.perf_counter()
            await service.embeddings([text])
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return len(latencies) / (time.perf_counter() - started), latencies


async def served(runtime: str, threads: int, sets: dict[str, list[str]]) -> dict[str, Any]:
    service = EmbeddingService("bench", {"cache_size": 0, "threads": threads, "runtime": runtime,
                                         "onnx_cache_dir": str(CACHE_DIR)})
    await service.start()
    out: dict[str, Any] = {}
    try:
        await service.embeddings(["warm up the model and its thread"])
        for name, texts in sets.items():
            for concurrency in (1, 16):
                runs = [await one_run(service, texts, concurrency) for _ in range(RUNS)]
                out[f"{name} c={concurrency}"] = {
                    "texts_per_s": round(statistics.median(r[0] for r in runs), 1),
                    "p50_ms": round(1000 * statistics.median(
                        float(np.percentile(r[1], 50)) for r in runs), 1),
                    "p99_ms": round(1000 * statistics.median(
                        float(np.percentile(r[1], 99)) for r in runs), 1)}
    finally:
        await service.close()
    return out


def cosine_stats(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    cos = (a * b).sum(axis=1)
    return {"mean": round(float(cos.mean()), 5), "p1": round(float(np.percentile(cos, 1)), 5),
            "min": round(float(cos.min()), 5),
            "max_abs_diff": float(f"{float(np.abs(a - b).max()):.3g}")}


def nearest_agreement(exact: np.ndarray, other: np.ndarray) -> dict[str, float]:
    a, b = exact @ exact.T, other @ other.T
    np.fill_diagonal(a, -2.0)
    np.fill_diagonal(b, -2.0)
    nearest = a.argmax(axis=1)
    top5 = np.argsort(-b, axis=1)[:, :5]
    return {"top1": round(float((b.argmax(axis=1) == nearest).mean()), 4),
            "in_top5": round(float(np.mean([n in t for n, t in zip(nearest, top5, strict=True)])),
                             4)}


def accuracy(xstest: list[dict[str, str]], sets: dict[str, list[str]]) -> dict[str, Any]:
    texts = sets["short"] + sets["medium"][:300]
    embeddings = {rt: load_encoder(rt, 1, CACHE_DIR).encode(texts) for rt in RUNTIMES}
    head = load_head("harmful_request")
    labels = np.array([r["label"] == "unsafe" for r in xstest])
    n = len(sets["short"])
    reference = head.scores(embeddings["numpy"][:n])
    out: dict[str, Any] = {"texts": len(texts), "vs_numpy": {}, "harmful_request_xstest": {}}
    for runtime, e in embeddings.items():
        scores = head.scores(e[:n])
        out["harmful_request_xstest"][runtime] = {
            "auc": round(float(roc_auc_score(labels, scores)), 4),
            "max_abs_diff_vs_numpy": round(float(np.abs(scores - reference).max()), 4),
            "mean_abs_diff_vs_numpy": round(float(np.abs(scores - reference).mean()), 4),
            "verdicts_changed_at_threshold": int(((scores > head.threshold)
                                                  != (reference > head.threshold)).sum())}
        if runtime != "numpy":
            out["vs_numpy"][runtime] = cosine_stats(e, embeddings["numpy"])
    out["int8_vs_fp32"] = cosine_stats(embeddings["onnx-int8"], embeddings["onnx"])
    out["int8_nearest_neighbour_agreement"] = nearest_agreement(
        embeddings["onnx"], embeddings["onnx-int8"])
    return out


async def main(data: Path) -> dict[str, Any]:
    xstest, sets = text_sets(data)
    out: dict[str, Any] = {
        "cpus": os.cpu_count(), "load_before": [round(v, 2) for v in os.getloadavg()],
        "requests_per_run": REQUESTS, "runs": RUNS,
        "mean_words": {k: round(float(np.mean([len(t.split()) for t in v])), 1)
                       for k, v in sets.items()},
        "accuracy": accuracy(xstest, sets), "served": {}}
    for runtime in RUNTIMES:
        for threads in (1, 2):
            out["served"][f"{runtime} threads={threads}"] = await served(runtime, threads, sets)
    out["load_after"] = [round(v, 2) for v in os.getloadavg()]
    return out


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else DATA
    try:
        print(json.dumps(asyncio.run(main(folder)), indent=2))
    finally:  # the ONNX models built for this run (~150 MB), unless the caller keeps them
        if not os.environ.get("BENCH_CACHE_DIR"):
            shutil.rmtree(CACHE_DIR, ignore_errors=True)
