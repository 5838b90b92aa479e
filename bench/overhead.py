"""Overhead benchmark: the proxy against the demo upstream, measured with wrk.

Prints JSON: requests/s and p50/p99 latency at each concurrency, directly against
``safety-proxy demo-upstream`` and through the proxy (checks off, and the default
classifiers on), non-streamed and streamed; plus the proxy's added p50 latency at
concurrency 1. Each server is its own process; wrk (Debian package ``wrk``) drives load.

    python bench/overhead.py [--duration 5] [--concurrency 1 16 64]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "Please summarise the plot of a detective novel in two sentences."
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(args: list[str], ready_url: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", "proxy", *args], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(ready_url, timeout=1) as response:
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{args} did not become ready")


def proxy_config(upstream_port: int, checks: bool, folder: Path) -> Path:
    defaults = yaml.safe_load((ROOT / "proxy/config/defaults.yaml").read_text())
    defaults["upstream"]["base_url"] = f"http://127.0.0.1:{upstream_port}/v1"
    defaults["logging"] = {"level": "warning"}  # one log line per request is not the subject
    defaults["reload"] = {"watch": False}
    if not checks:
        defaults["checks"] = []
        defaults["policy"] = {"refusal_text": defaults["policy"]["refusal_text"]}
    path = folder / f"proxy-{'on' if checks else 'off'}.yaml"
    path.write_text(yaml.safe_dump(defaults))
    return path


def wrk(url: str, stream: bool, connections: int, duration: float, folder: Path) -> dict:
    """Each request's prompt carries a counter, so no verdict is ever served from the cache:
    the figures include the classifiers' real cost."""
    script = folder / "post.lua"
    script.write_text(LUA.replace("STREAM", "true" if stream else "false")
                      .replace("PROMPT", PROMPT))
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{int(duration)}s", "--latency", "-s", str(script),
         f"{url}/v1/chat/completions"], capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": _percentile(out, "50%"), "p99_ms": _percentile(out, "99%"),
            "non_2xx": int(errors.group(1)) if errors else 0}


LUA = """
counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench-client"
request = function()
  counter = counter + 1
  local body = string.format(
    '{"model":"demo","stream":STREAM,"messages":[{"role":"user","content":"PROMPT (%d)"}]}',
    counter)
  return wrk.format(nil, nil, nil, body)
end
"""


def _percentile(out: str, which: str) -> float:
    value, unit = re.search(rf"{which}\s+([\d.]+)(us|ms|s)", out).groups()
    return round(float(value) * UNITS[unit], 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    folder = Path(tempfile.mkdtemp(prefix="overhead-"))
    upstream_port, off_port, on_port = free_port(), free_port(), free_port()
    processes = [start(["demo-upstream", "--port", str(upstream_port)],
                       f"http://127.0.0.1:{upstream_port}/v1/models")]
    try:
        for port, checks in ((off_port, False), (on_port, True)):
            config = proxy_config(upstream_port, checks, folder)
            processes.append(start(["serve", "--config", str(config), "--port", str(port)],
                                   f"http://127.0.0.1:{port}/readyz"))
        print(json.dumps(run_matrix(args, folder, upstream_port, off_port, on_port), indent=2))
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


def run_matrix(args: argparse.Namespace, folder: Path, upstream: int, off: int, on: int) -> dict:
    targets = {"direct": upstream, "proxy_checks_off": off, "proxy_default_checks": on}
    results: dict = {"cpu_count": os.cpu_count(), "duration_s": args.duration, "runs": {}}
    for port in targets.values():  # first calls pay one-time costs: not what is measured
        wrk(f"http://127.0.0.1:{port}", False, 16, 2, folder)
    for stream in (False, True):
        mode = "streamed" if stream else "non_streamed"
        for name, port in targets.items():
            for connections in args.concurrency:
                key = f"{mode}/{name}/c{connections}"
                results["runs"][key] = wrk(f"http://127.0.0.1:{port}", stream, connections,
                                           args.duration, folder)
        if 1 in args.concurrency:
            direct = results["runs"][f"{mode}/direct/c1"]["p50_ms"]
            for name in ("proxy_checks_off", "proxy_default_checks"):
                added = results["runs"][f"{mode}/{name}/c1"]["p50_ms"] - direct
                results[f"{mode}/{name}/added_p50_ms_c1"] = round(added, 3)
    return results


if __name__ == "__main__":
    main()
