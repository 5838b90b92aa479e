"""Overhead benchmark: the proxy against the demo upstream, per API route, measured with wrk.

Six servers, each its own process: ``safety-proxy demo-upstream``, and in front of it the
floor (bench/floor_proxy.py: aiohttp's server and the proxy's upstream client relaying
bytes, nothing else), a proxy with checks off, one with the ``fast`` preset, the same with
``streaming.mode: low_latency``, and one with the embedded defaults. For each route (Chat
Completions, Responses, Anthropic Messages by default; legacy Completions on request), each
target (the demo upstream directly, and each proxy), non-streamed and streamed, and each
concurrency, wrk (Debian package ``wrk``) drives load for ``--duration`` seconds.

The runs are interleaved in rounds: round r runs every (route, target, mode, concurrency)
once, every other round in the reverse order, so a drift of the machine's speed (a slow
patch, a warming cache) hits every target alike over the rounds.
Printed JSON: per run, the median over rounds of requests/s, p50/p99 latency and the
target process's CPU milliseconds per request (user + system time of all its threads, from
/proc, over the run's requests; for ``direct`` the demo upstream's own) (and each round's
figures); per route, target and mode, the proxy's added p50 at concurrency 1 (median
proxy p50 minus median direct p50), its ratio to the chat route's, and what each proxy
adds over the floor (its added p50 minus the floor's: the proxy's own work). Then, per target,
``FIRST_BYTE_REQUESTS`` streamed chat requests one at a time (in slices interleaved across
targets): the median time to the first byte of the body and to the stream's end, and the
proxy's added first byte (its median minus the direct one). Last, ``targets``: each
overhead target (``TARGETS_OF_A_RUN``) as this run measured it on the chat route (a ratio
as the median of its rounds' ratios: its two figures measured in the same round), with
the target and whether it is met (with ``chat`` among the routes and 1 and 16 among the
concurrencies).

With ``--peer-litellm PATH`` (the ``litellm`` command of a virtual environment where
``pip install 'litellm[proxy]'`` ran; not a dependency of this project), a LiteLLM proxy
with one worker is one more target on the same upstream, measured the same way on the chat
route (``peer_litellm``).

    python -m bench.overhead [--duration 5] [--rounds 3] [--concurrency 1 16 64]
                             [--routes chat responses messages] [--peer-litellm PATH]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.loopback import free_port

ROOT = Path(__file__).resolve().parent.parent
# The run's own id and a counter come first: the demo model quotes the prompt's first 60
# characters, so every request, and every answer, is unique within a run and across runs
# (wrk restarts its counter each run while the proxies and their caches stay up): no
# verdict- or embedding-cache hit on either side.
PROMPT = "(%s-%d) Please summarise the plot of a detective novel in two sentences."
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
MODES = {"non_streamed": False, "streamed": True}
# The reference under every proxy: bench/floor_proxy.py, aiohttp's server and the proxy's
# upstream client relaying bytes and nothing else. A proxy's added latency minus the
# floor's is the proxy's own work.
FLOOR = "floor"
PROXIES = ("proxy_checks_off", "proxy_fast_preset", "proxy_fast_low_latency",
           "proxy_default_checks")
TARGETS = ("direct", FLOOR, *PROXIES)
# Each proxy target's config: a shipped preset (checks off: the embedded defaults without
# classifiers).
CONFIGS = {"proxy_checks_off": ("defaults.yaml", False, "buffered"),
           "proxy_fast_preset": ("fast.yaml", True, "buffered"),
           "proxy_fast_low_latency": ("fast.yaml", True, "low_latency"),
           "proxy_default_checks": ("defaults.yaml", True, "buffered")}
FIRST_BYTE_REQUESTS = 300  # sequential streamed requests per target, in 6 interleaved slices
# The optional peer (--peer-litellm): a LiteLLM proxy, one worker, on the same demo upstream,
# for the routes it serves the same way (Chat Completions).
PEER = "peer_litellm"
PEER_ROUTES = ("chat",)


@dataclass(frozen=True)
class Route:
    """One API: its path and a request body with one user message (``STREAM`` and
    ``PROMPT`` are filled in)."""

    path: str
    body: str


ROUTES = {
    "chat": Route("/v1/chat/completions",
                  '{"model":"demo","stream":STREAM,"messages":[{"role":"user","content":"PROMPT"}]}'),
    "responses": Route("/v1/responses",
                       '{"model":"demo","stream":STREAM,"input":[{"role":"user","content":"PROMPT"}]}'),
    "messages": Route("/v1/messages",
                      '{"model":"demo","max_tokens":256,"stream":STREAM,'
                      '"messages":[{"role":"user","content":"PROMPT"}]}'),
    "completions": Route("/v1/completions", '{"model":"demo","stream":STREAM,"prompt":"PROMPT"}'),
}

# Every route authenticates the same way (Bearer), so the abuse gate does the same work.
LUA = """
counter = 0
run = "0"
init = function(args)
  run = args[1]
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench-client"
wrk.headers["anthropic-version"] = "2023-06-01"
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, string.format('BODY', run, counter))
end
"""


def start(args: list[str], ready_url: str, command: list[str] | None = None,
          cwd: Path = ROOT) -> subprocess.Popen[bytes]:
    """Starts ``python -m proxy ARGS`` (or ``command + ARGS``); returns once ``ready_url``
    answers 200 (120 s)."""
    process = subprocess.Popen([*(command or [sys.executable, "-m", "proxy"]), *args], cwd=cwd,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(ready_url, timeout=1) as response:
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{args} did not become ready")


def proxy_config(upstream_port: int, target: str, folder: Path) -> Path:
    """The target's shipped config pointed at the upstream (``CONFIGS``)."""
    preset, checks, streaming = CONFIGS[target]
    defaults = yaml.safe_load((ROOT / "proxy/config" / preset).read_text())
    defaults["upstream"]["base_url"] = f"http://127.0.0.1:{upstream_port}/v1"
    defaults["logging"] = {"level": "warning"}  # one log line per request is not the subject
    defaults["reload"] = {"watch": False}
    defaults["streaming"]["mode"] = streaming
    if not checks:
        defaults["checks"] = []
        defaults["policy"] = {"refusal_text": defaults["policy"]["refusal_text"]}
    path = folder / f"{target}.yaml"
    path.write_text(yaml.safe_dump(defaults))
    return path


def peer_config(upstream_port: int, folder: Path) -> Path:
    """LiteLLM's proxy config: the demo model behind the same upstream, no database, no
    callbacks; the client's key as its master key (it authenticates each call, as the
    proxies here do)."""
    config = {"model_list": [{"model_name": "demo", "litellm_params": {
                  "model": "openai/demo", "api_base": f"http://127.0.0.1:{upstream_port}/v1",
                  "api_key": "sk-upstream"}}],
              "litellm_settings": {"telemetry": False, "drop_params": True},
              "general_settings": {"disable_spend_logs": True,
                                   "master_key": "sk-bench-client"}}
    path = folder / "litellm.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_peer(executable: str, upstream_port: int, port: int, folder: Path
               ) -> subprocess.Popen[bytes]:
    config = peer_config(upstream_port, folder)
    return start(["--config", str(config), "--port", str(port), "--num_workers", "1"],
                 f"http://127.0.0.1:{port}/health/liveliness", command=[executable], cwd=folder)


def lua_script(route: str, stream: bool, folder: Path) -> Path:
    """The wrk script posting ``route``'s body with a counter at the prompt's start."""
    body = (ROUTES[route].body.replace("STREAM", "true" if stream else "false")
            .replace("PROMPT", PROMPT))
    path = folder / f"{route}-{'stream' if stream else 'json'}.lua"
    path.write_text(LUA.replace("BODY", body))
    return path


def stream_times(port: int, requests: int, run: str) -> list[tuple[float, float]]:
    """(first body byte, end of stream) in ms for ``requests`` streamed chat requests sent
    one at a time on one keep-alive connection, each with a prompt of its own."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench-client"}
    template = ROUTES["chat"].body.replace("STREAM", "true").replace("PROMPT", PROMPT)
    times = []
    try:
        for number in range(requests):
            body = template % (run, number)
            start = time.perf_counter()
            connection.request("POST", ROUTES["chat"].path, body, headers)
            response = connection.getresponse()
            assert response.status == 200 and response.read1(), response.status
            first = time.perf_counter()
            response.read()
            times.append(((first - start) * 1000, (time.perf_counter() - start) * 1000))
    finally:
        connection.close()
    return times


def first_bytes(ports: dict[str, int], requests: int) -> dict[str, dict[str, float]]:
    """Median first-byte and whole-stream ms per target, and each proxy's added first byte."""
    slices, run = 6, uuid.uuid4().hex[:12]
    times: dict[str, list[tuple[float, float]]] = {target: [] for target in ports}
    for piece in range(slices):
        for target in ports:
            times[target] += stream_times(ports[target], requests // slices, f"{run}{piece}")
    figures = {target: {"first_byte_ms": round(statistics.median(t[0] for t in got), 3),
                        "stream_end_ms": round(statistics.median(t[1] for t in got), 3)}
               for target, got in times.items()}
    for target in ports:
        if target == "direct":
            continue
        figures[target]["first_byte_added_ms"] = round(
            figures[target]["first_byte_ms"] - figures["direct"]["first_byte_ms"], 3)
    return figures


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads together (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def measured(pid: int, url: str, script: Path, connections: int, duration: float) -> dict:
    """One wrk run against the process ``pid`` serves, with that process's CPU ms per
    request over the run."""
    before = cpu_seconds(pid)
    figures = wrk(url, script, connections, duration)
    spent = cpu_seconds(pid) - before
    figures["cpu_ms_per_request"] = round(spent * 1000 / max(figures.pop("requests"), 1), 3)
    return figures


def wrk(url: str, script: Path, connections: int, duration: float) -> dict:
    """One wrk run: requests/s, p50/p99 latency in ms, non-2xx responses, requests done."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{int(duration)}s", "--latency", "-s", str(script),
         url, "--", uuid.uuid4().hex[:12]], capture_output=True, text=True, check=True).stdout
    requests = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert requests is not None and total is not None, out
    return {"requests_per_s": float(requests.group(1)), "p50_ms": _percentile(out, "50%"),
            "p99_ms": _percentile(out, "99%"), "non_2xx": int(errors.group(1)) if errors else 0,
            "requests": int(total.group(1))}


def _percentile(out: str, which: str) -> float:
    found = re.search(rf"{which}\s+([\d.]+)(us|ms|s)", out)
    assert found is not None, out
    value, unit = found.groups()
    return round(float(value) * UNITS[unit], 3)


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    folder = Path(tempfile.mkdtemp(prefix="overhead-"))
    targets = [*TARGETS, *([PEER] if args.peer_litellm else [])]
    ports = {target: free_port() for target in targets}
    processes = [start(["demo-upstream", "--port", str(ports["direct"])],
                       f"http://127.0.0.1:{ports['direct']}/v1/models")]
    try:
        processes.append(start(["--upstream", f"http://127.0.0.1:{ports['direct']}", "--port",
                                str(ports[FLOOR])], f"http://127.0.0.1:{ports[FLOOR]}/healthz",
                               command=[sys.executable, "-m", "bench.floor_proxy"]))
        for target in PROXIES:
            config = proxy_config(ports["direct"], target, folder)
            processes.append(start(["serve", "--config", str(config), "--port",
                                    str(ports[target])],
                                   f"http://127.0.0.1:{ports[target]}/readyz"))
        if args.peer_litellm:
            processes.append(start_peer(args.peer_litellm, ports["direct"], ports[PEER],
                                        folder))
        pids = dict(zip(targets, (process.pid for process in processes), strict=True))
        print(json.dumps(run_matrix(args, folder, ports, pids), indent=2))
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--routes", nargs="+", choices=list(ROUTES),
                        default=["chat", "responses", "messages"])
    parser.add_argument("--peer-litellm", metavar="LITELLM",
                        help="the litellm command of an environment with 'litellm[proxy]' "
                             "installed: adds a LiteLLM proxy (1 worker) on the same upstream "
                             "as a target, on the chat route")
    return parser.parse_args()


def run_matrix(args: argparse.Namespace, folder: Path, ports: dict[str, int],
               pids: dict[str, int]) -> dict:
    """Every run in every round, then medians, added p50 at c=1 and ratios to chat."""
    scripts = {(route, mode): lua_script(route, stream, folder)
               for route in args.routes for mode, stream in MODES.items()}
    for route in args.routes:  # first calls pay one-time costs: not what is measured
        for target in serving(ports, route):
            wrk(_url(ports[target], route), scripts[route, "non_streamed"], 16, 1)
    rounds: dict[str, list[dict]] = {}
    for number in range(args.rounds):
        for key, run in run_round(args, scripts, ports, pids, number % 2 == 1).items():
            rounds.setdefault(key, []).append(run)
        print(f"round {number + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    runs = {key: summarise(figures) for key, figures in rounds.items()}
    results = {"cpu_count": os.cpu_count(), "duration_s": args.duration,
               "rounds": args.rounds, "routes": args.routes, "runs": runs,
               "streamed_chat_one_at_a_time": first_bytes(
                   {t: ports[t] for t in serving(ports, "chat")}, FIRST_BYTE_REQUESTS)}
    if 1 in args.concurrency:
        results["added_p50_ms_c1"] = added_p50(runs, args.routes)
        results["over_floor_p50_ms_c1"] = over_floor(results["added_p50_ms_c1"])
        if "chat" in args.routes:
            results["added_p50_ratio_to_chat"] = ratios_to_chat(results["added_p50_ms_c1"])
            if 16 in args.concurrency:
                results["targets"] = targets(runs, results["added_p50_ms_c1"],
                                             results["streamed_chat_one_at_a_time"])
    return results


def run_round(args: argparse.Namespace, scripts: dict[tuple[str, str], Path],
              ports: dict[str, int], pids: dict[str, int], reverse: bool) -> dict[str, dict]:
    """One run of each (route, target, mode, concurrency), in that order or (``reverse``)
    the reverse; keys are ``route/mode/target/cN``."""
    order = [(route, target, mode, connections) for route in args.routes
             for target in serving(ports, route) for mode in MODES
             for connections in args.concurrency]
    figures = {}
    for route, target, mode, connections in reversed(order) if reverse else order:
        figures[f"{route}/{mode}/{target}/c{connections}"] = measured(
            pids[target], _url(ports[target], route), scripts[route, mode], connections,
            args.duration)
    return figures


def serving(ports: dict[str, int], route: str) -> list[str]:
    """The targets measured on ``route``: all of them, but the peer only on its routes."""
    return [t for t in ports if t != PEER or route in PEER_ROUTES]


def _url(port: int, route: str) -> str:
    return f"http://127.0.0.1:{port}{ROUTES[route].path}"


def summarise(figures: list[dict]) -> dict:
    """Medians over rounds (non-2xx summed), with each round's figures kept."""
    summary = {name: round(statistics.median(run[name] for run in figures), 3)
               for name in ("requests_per_s", "p50_ms", "p99_ms", "cpu_ms_per_request")}
    return {**summary, "non_2xx": sum(run["non_2xx"] for run in figures), "by_round": figures}


def added_p50(runs: dict[str, dict], routes: list[str]) -> dict[str, float]:
    """``route/mode/proxy``: the proxy's median p50 at c=1 minus the direct one."""
    added = {}
    for route in routes:
        for mode in MODES:
            direct = runs[f"{route}/{mode}/direct/c1"]["p50_ms"]
            for proxy in (FLOOR, *PROXIES, PEER):
                if f"{route}/{mode}/{proxy}/c1" not in runs:
                    continue  # the peer, off its routes or not asked for
                added[f"{route}/{mode}/{proxy}"] = round(
                    runs[f"{route}/{mode}/{proxy}/c1"]["p50_ms"] - direct, 3)
    return added


# The overhead targets (README, Performance), each a figure of one run: name -> (how it
# compares, bound).
TARGETS_OF_A_RUN = {
    "checks_off_added_p50_ms_c1": ("<=", 0.5),
    "checks_off_share_of_direct_req_s_c16": (">=", 0.25),
    "fast_added_p50_ms_c1": ("<=", 2.0),
    "fast_cpu_per_request_to_checks_off_c1": ("<=", 2.0),
    "low_latency_first_byte_added_ms": ("<=", 1.0),
    "low_latency_streams_to_buffered_c16": (">=", 1.0),
}


def targets(runs: dict[str, dict], added: dict[str, float],
            first_byte: dict[str, dict[str, float]]) -> dict[str, dict]:
    """Each of TARGETS_OF_A_RUN on the chat route, as this run measured it: its value, the
    target and whether it is met. A ratio is the median over rounds of that round's ratio:
    its two figures were measured minutes apart at most, and the machine's speed in that
    round cancels out."""
    def ratio(figure: str, mode: str, target: str, to: str, connections: int) -> float:
        over, under = (runs[f"chat/{mode}/{name}/c{connections}"]["by_round"]
                       for name in (target, to))
        return statistics.median(a[figure] / b[figure] for a, b in zip(over, under, strict=True))

    values = {
        "checks_off_added_p50_ms_c1": added["chat/non_streamed/proxy_checks_off"],
        "checks_off_share_of_direct_req_s_c16": ratio(
            "requests_per_s", "non_streamed", "proxy_checks_off", "direct", 16),
        "fast_added_p50_ms_c1": added["chat/non_streamed/proxy_fast_preset"],
        "fast_cpu_per_request_to_checks_off_c1": ratio(
            "cpu_ms_per_request", "non_streamed", "proxy_fast_preset", "proxy_checks_off", 1),
        "low_latency_first_byte_added_ms":
            first_byte["proxy_fast_low_latency"]["first_byte_added_ms"],
        "low_latency_streams_to_buffered_c16": ratio(
            "requests_per_s", "streamed", "proxy_fast_low_latency", "proxy_fast_preset", 16),
    }
    report = {}
    for name, value in values.items():
        how, bound = TARGETS_OF_A_RUN[name]
        report[name] = {"value": round(value, 3), "target": f"{how} {bound}",
                        "met": value <= bound if how == "<=" else value >= bound}
    return report


def over_floor(added: dict[str, float]) -> dict[str, float]:
    """``route/mode/proxy``: the proxy's added p50 minus the floor's, same route and mode."""
    return {key: round(value - added[key.rsplit("/", 1)[0] + f"/{FLOOR}"], 3)
            for key, value in added.items() if not key.endswith(f"/{FLOOR}")}


def ratios_to_chat(added: dict[str, float]) -> dict[str, float | None]:
    """Each route's added p50 over the chat route's, same mode and proxy (None: chat's
    added p50 is not positive)."""
    ratios: dict[str, float | None] = {}
    for key, value in added.items():
        route, rest = key.split("/", 1)
        chat = added.get(f"chat/{rest}", 0.0)
        if route != "chat":
            ratios[key] = round(value / chat, 3) if chat > 0 else None
    return ratios


if __name__ == "__main__":
    main()
