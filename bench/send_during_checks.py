"""What ``upstream.send_during_input_checks`` saves: the input checks' time, hidden behind
the model's own time to first token.

``safety-proxy demo-upstream --first-token-ms T`` stands for a model that takes T ms before
answering; in front of it, each shipped preset (``fast``, the embedded defaults) in
``streaming.mode: low_latency``, once sending after its input checks (as by default) and
once sending during them. Streamed chat requests, one at a time, each prompt unique (no
cache hit), in slices interleaved across targets: the median time to the first byte of the
body and to the stream's end, and each proxy's added first byte over the upstream alone.
Sent after the checks, a proxy adds the checks' time to the model's; sent during them, it
adds only what the checks take beyond the model's first token.

    python -m bench.send_during_checks [--first-token-ms 50] [--requests 120]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import uuid
from pathlib import Path

import yaml

from bench.loopback import free_port
from bench.overhead import ROOT, first_bytes, start, stream_times

# target -> (preset, sent during the checks)
TARGETS = {"fast_after_checks": ("fast.yaml", False), "fast_during_checks": ("fast.yaml", True),
           "default_after_checks": ("defaults.yaml", False),
           "default_during_checks": ("defaults.yaml", True)}


def config(upstream_port: int, preset: str, during: bool, folder: Path, name: str) -> Path:
    """The shipped preset, low-latency streaming, pointed at the demo upstream."""
    loaded = yaml.safe_load((ROOT / "proxy/config" / preset).read_text())
    loaded["upstream"].update(base_url=f"http://127.0.0.1:{upstream_port}/v1",
                              send_during_input_checks=during)
    loaded["streaming"]["mode"] = "low_latency"
    loaded["logging"] = {"level": "warning"}
    loaded["reload"] = {"watch": False}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(loaded))
    return path


def measure(ports: dict[str, int], requests: int) -> dict[str, dict[str, float]]:
    for target, port in ports.items():  # first calls pay one-time costs
        stream_times(port, 3, f"warm-{uuid.uuid4().hex[:8]}-{target}")
    return first_bytes(ports, requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--first-token-ms", type=float, default=50.0,
                        help="the demo model's pause before every answer")
    parser.add_argument("--requests", type=int, default=120, help="streamed requests per target")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="send-during-"))
    ports = {"direct": free_port(), **{target: free_port() for target in TARGETS}}
    processes = [start(["demo-upstream", "--port", str(ports["direct"]), "--first-token-ms",
                        str(args.first_token_ms)],
                       f"http://127.0.0.1:{ports['direct']}/v1/models")]
    try:
        for target, (preset, during) in TARGETS.items():
            path = config(ports["direct"], preset, during, folder, target)
            processes.append(start(["serve", "--config", str(path), "--port",
                                    str(ports[target])],
                                   f"http://127.0.0.1:{ports[target]}/readyz"))
        print(json.dumps({"first_token_ms": args.first_token_ms, "requests": args.requests,
                          "streamed_chat_one_at_a_time": measure(ports, args.requests)},
                         indent=2))
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


if __name__ == "__main__":
    main()
