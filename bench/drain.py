"""Graceful shutdown benchmark: steady traffic through a SIGTERM, nothing may fail.

A fake upstream (an aiohttp app in this process, OpenAI Chat Completions wire format:
JSON answers, and SSE streams of 1 to ``--longest-stream-s`` seconds) and ``safety-proxy
serve`` (a subprocess, the shipped default checks) in front of it. Workers send requests
and streams without pause; after ``--before-s`` the proxy gets SIGTERM. A router task plays
the load balancer: it polls /readyz and, ``--propagation-s`` after its first 503 (a
Kubernetes Service's endpoints take about that long), stops sending new requests here. The
in-flight streams must then finish within the shutdown timeout.

Printed JSON: requests sent and failed (the goal: 0; failures by kind and error), requests
begun after the SIGTERM and answered (served during the drain), streams completed and the
longest one completed (and the longest one in flight at the SIGTERM), time from SIGTERM to
/readyz 503 and to the process's exit, its exit status, and its own shutdown log lines.

    python -m bench.drain [--drain-s 5] [--shutdown-timeout-s 30] [--propagation-s 2]
                          [--requests 8] [--streams 8] [--longest-stream-s 12]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from bench.loopback import free_port

ROOT = Path(__file__).resolve().parent.parent
PIECE_S = 0.05  # the fake upstream's pause between two streamed pieces


@dataclass
class Outcome:
    kind: str  # "request" or "stream"
    began: float
    ended: float
    error: str | None = None


@dataclass
class Run:
    routing: bool = True
    sigterm_at: float | None = None
    readyz_503_at: float | None = None
    outcomes: list[Outcome] = field(default_factory=list)


def fake_upstream() -> web.Application:
    """Chat completions: "stream N" streams N pieces, PIECE_S apart; anything else is a
    JSON answer after 20 ms."""
    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        text = body["messages"][-1]["content"]
        if not body.get("stream"):
            await asyncio.sleep(0.02)
            return web.json_response(completion("Hello there, a calm answer."))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            for number in range(int(text.split()[1])):
                await response.write(chunk({"content": f"w{number} "}))
                await asyncio.sleep(PIECE_S)
            await response.write(chunk({}, "stop") + b"data: [DONE]\n\n")
            await response.write_eof()
        except ConnectionError:  # the proxy cut the stream (past its shutdown timeout)
            pass
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


def completion(text: str) -> dict[str, Any]:
    return {"id": "chatcmpl-bench", "object": "chat.completion", "created": 0,
            "model": "bench", "choices": [{"index": 0, "finish_reason": "stop",
                                           "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    event = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0,
             "model": "bench", "choices": [{"index": 0, "delta": delta,
                                            "finish_reason": finish}]}
    return b"data: " + json.dumps(event).encode() + b"\n\n"


async def send(session: aiohttp.ClientSession, base: str, run: Run, kind: str,
               pieces: int = 0) -> None:
    """One request (``kind`` "request") or stream of ``pieces``; its outcome in ``run``."""
    stream = kind == "stream"
    body = {"model": "bench", "stream": stream, "messages": [
        {"role": "user", "content": f"stream {pieces}" if stream else "Say something calm."}]}
    outcome = Outcome(kind, time.monotonic(), 0.0)
    try:
        async with session.post(f"{base}/v1/chat/completions", json=body) as response:
            data = await response.read()
        if response.status != 200:
            outcome.error = f"status {response.status}"
        elif stream and not (data.endswith(b"data: [DONE]\n\n")
                             and f"w{pieces - 1} ".encode() in data):
            outcome.error = "stream incomplete"
    except aiohttp.ClientError as exc:
        outcome.error = type(exc).__name__
    outcome.ended = time.monotonic()
    run.outcomes.append(outcome)


async def worker(base: str, run: Run, kind: str, longest_s: float) -> None:
    """Sends ``kind`` after ``kind`` while the router routes here."""
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer sk-bench"}) as session:
        while run.routing:
            pieces = random.randint(int(1 / PIECE_S), int(longest_s / PIECE_S))
            await send(session, base, run, kind, pieces)


async def router(base: str, run: Run, propagation_s: float) -> None:
    """The load balancer: stops routing here ``propagation_s`` after /readyz's first 503."""
    async with aiohttp.ClientSession() as session:
        while run.readyz_503_at is None:
            try:
                async with session.get(f"{base}/readyz") as response:
                    if response.status == 503 and run.sigterm_at is not None:
                        run.readyz_503_at = time.monotonic()
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    await asyncio.sleep(propagation_s)
    run.routing = False


def proxy_config(upstream: str, args: argparse.Namespace, folder: Path) -> Path:
    """The embedded defaults (their checks) in front of ``upstream``, JSON logs."""
    config = yaml.safe_load((ROOT / "proxy/config/defaults.yaml").read_text())
    config["upstream"]["base_url"] = f"{upstream}/v1"
    config["server"].update(drain_s=args.drain_s, shutdown_timeout_s=args.shutdown_timeout_s)
    config["logging"] = {"level": "info", "format": "json"}  # the shutdown lines are info
    config["reload"] = {"watch": False}
    path = folder / "proxy.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


async def start_proxy(config: Path, port: int, log: Path) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", "serve", "--config", str(config), "--port", str(port),
        cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=log.open("wb"))
    async with aiohttp.ClientSession() as session:
        for _ in range(1200):
            try:
                async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                    if response.status == 200:
                        return process
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    process.kill()
    raise SystemExit(f"the proxy did not become ready (its log: {log})")


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="drain-"))
    runner = web.AppRunner(fake_upstream(), access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port, log = free_port(), folder / "proxy.log"
    base = f"http://127.0.0.1:{port}"
    config = proxy_config(f"http://127.0.0.1:{site.port}", args, folder)
    process = await start_proxy(config, port, log)
    try:
        run = Run()
        workers = [asyncio.create_task(worker(base, run, "request", args.longest_stream_s))
                   for _ in range(args.requests)]
        workers += [asyncio.create_task(worker(base, run, "stream", args.longest_stream_s))
                    for _ in range(args.streams)]
        routing = asyncio.create_task(router(base, run, args.propagation_s))
        await asyncio.sleep(args.before_s)
        run.sigterm_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), args.drain_s + args.shutdown_timeout_s
                                      + args.longest_stream_s + 60)
        exited = time.monotonic()
        await asyncio.gather(routing, *workers)
    finally:
        if process.returncode is None:
            process.kill()
        await runner.cleanup()
    return report(run, code, exited, log)


def report(run: Run, code: int, exited: float, log: Path) -> dict[str, Any]:
    assert run.sigterm_at is not None
    failed = [o for o in run.outcomes if o.error]
    after = [o for o in run.outcomes if o.began >= run.sigterm_at and not o.error]
    streams = [o for o in run.outcomes if o.kind == "stream" and not o.error]
    in_flight = [o for o in streams if o.began < run.sigterm_at < o.ended]
    events = [json.loads(line) for line in log.read_text().splitlines()]
    return {
        "requests_sent": len(run.outcomes),
        "failed": len(failed),
        "failures": sorted({f"{o.kind}: {o.error}" for o in failed}),
        "served_after_sigterm": len(after),
        "streams_completed": len(streams),
        "longest_stream_completed_s": round(max((o.ended - o.began for o in streams),
                                                default=0.0), 2),
        "longest_stream_in_flight_at_sigterm_s": round(max(
            (o.ended - o.began for o in in_flight), default=0.0), 2),
        "stream_finished_latest_after_sigterm_s": round(max(
            (o.ended - run.sigterm_at for o in in_flight), default=0.0), 2),
        "readyz_503_after_sigterm_s": round((run.readyz_503_at or exited) - run.sigterm_at, 3),
        "exit_after_sigterm_s": round(exited - run.sigterm_at, 2),
        "exit_code": code,
        "shutdown_log": [e for e in events if e.get("event") in (
            "shutdown_started", "drain_finished", "shutdown_complete")],
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drain-s", type=float, default=5.0, help="server.drain_s")
    parser.add_argument("--shutdown-timeout-s", type=float, default=30.0,
                        help="server.shutdown_timeout_s")
    parser.add_argument("--propagation-s", type=float, default=2.0,
                        help="how long the 'load balancer' routes here after /readyz's 503")
    parser.add_argument("--before-s", type=float, default=3.0, help="traffic before SIGTERM")
    parser.add_argument("--requests", type=int, default=8, help="request workers")
    parser.add_argument("--streams", type=int, default=8, help="stream workers")
    parser.add_argument("--longest-stream-s", type=float, default=12.0)
    return parser.parse_args()


def main() -> None:
    print(json.dumps(asyncio.run(bench(parse_args())), indent=2))


if __name__ == "__main__":
    main()
