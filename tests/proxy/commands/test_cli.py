"""The safety-proxy command as a user runs it: real subprocesses on loopback ports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.ports import free_port

pytestmark = pytest.mark.slow  # commands run as subprocesses

CLI = [sys.executable, "-m", "proxy"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=ENV)


def wait_ready(url: str, process: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready")


@pytest.fixture
def demo_proxy() -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # The with block closes the pipes once the process is gone.
    with subprocess.Popen([*CLI, "serve", "--demo", "--port", str(port)], env=ENV,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            wait_ready(f"{base}/readyz", process)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture
def opened() -> Iterator[ExitStack]:
    """Closes what a test opens on it (SDK clients, and their pooled sockets) after it."""
    with ExitStack() as stack:
        yield stack


# Blocked by the embedded defaults (guard.hate); written for these tests.
HATEFUL = "Muslims are savages who deserve to be locked up."


def test_serve_demo_answers_the_openai_sdk(demo_proxy, opened):
    keys = iter(f"sk-demo-{n}" for n in range(100))  # a principal per step: no throttling

    class Fresh:
        @property
        def chat(self):
            return opened.enter_context(openai.OpenAI(
                base_url=f"{demo_proxy}/v1", api_key=next(keys), max_retries=0)).chat

    client = Fresh()
    hello = client.chat.completions.create(
        model="demo", messages=[{"role": "user", "content": "Hello there"}])
    assert "Hello there" in (hello.choices[0].message.content or "")
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="demo", messages=[{"role": "user", "content": HATEFUL}])
    assert caught.value.code == "content_filter"
    replaced = client.chat.completions.create(
        model="demo", messages=[{"role": "user", "content": "[[offend]]"}])
    assert replaced.choices[0].finish_reason == "content_filter"
    assert "idiot" not in (replaced.choices[0].message.content or "")
    stream = client.chat.completions.create(
        model="demo", messages=[{"role": "user", "content": "[[offend]]"}], stream=True)
    chunks = list(stream)
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    assert "idiot" not in "".join(c.choices[0].delta.content or "" for c in chunks)
    refusal = client.chat.completions.create(
        model="demo", messages=[{"role": "user", "content": "[[refuse]]"}])
    assert refusal.choices[0].finish_reason == "stop"
    metrics = httpx.get(f"{demo_proxy}/metrics").text
    assert 'safety_proxy_moderations_total{decision="block",direction="input"} 1.0' in metrics
    assert 'safety_proxy_stream_cuts_total{mode="buffered"} 1.0' in metrics
    assert "safety_proxy_refusals_total 1.0" in metrics


def test_serve_demo_throttles_a_repeat_offender_only(demo_proxy, opened):
    client = opened.enter_context(openai.OpenAI(base_url=f"{demo_proxy}/v1",
                                                api_key="sk-offender", max_retries=0))
    rude = [{"role": "user", "content": HATEFUL}]
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="demo", messages=rude)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="demo", messages=rude)
    with pytest.raises(openai.RateLimitError) as throttled:
        client.chat.completions.create(model="demo", messages=[{"role": "user", "content": "hi"}])
    assert throttled.value.code == "principal_throttled"
    assert int(throttled.value.response.headers["Retry-After"]) > 0
    metrics = httpx.get(f"{demo_proxy}/metrics").text
    assert 'safety_proxy_errors_total{kind="principal_throttled"} 1.0' in metrics
    other = opened.enter_context(openai.OpenAI(base_url=f"{demo_proxy}/v1",
                                               api_key="sk-innocent", max_retries=0))
    assert other.chat.completions.create(model="demo", messages=[
        {"role": "user", "content": "hi"}]).choices[0].finish_reason == "stop"


def test_check_config_accepts_good_and_rejects_bad_files(tmp_path: Path):
    good = tmp_path / "good.yaml"
    good.write_text("upstream:\n  base_url: http://127.0.0.1:1/v1\n")
    result = run_cli("check-config", str(good))
    assert result.returncode == 0 and "OK" in result.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("upstream:\n  base_url: http://127.0.0.1:1/v1\n  read_timeout_s: -1\n")
    result = run_cli("check-config", str(bad))
    assert result.returncode == 1
    assert f"{bad}:3: upstream.read_timeout_s: Input should be greater than 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_with_bad_config_exits_non_zero_with_clear_message(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("upstream:\n  base_url: http://127.0.0.1:1/v1\nchecks:\n"
                   "  - {name: tox, type: nonsense}\n")
    result = run_cli("serve", "--config", str(bad), "--port", str(free_port()))
    assert result.returncode == 1
    assert "unknown classifier type 'nonsense'" in result.stderr
    assert "Traceback" not in result.stderr


def test_score_prints_scores_and_decisions():
    result = run_cli("score", "--json", "have a nice day", HATEFUL, "I hate Mondays")
    assert result.returncode == 0, result.stderr
    import json

    clean, hateful, ordinary = (json.loads(line) for line in result.stdout.splitlines())
    assert clean["input"]["decision"] == ordinary["input"]["decision"] == "allow"
    assert hateful["input"]["decision"] == "block"
    assert hateful["input"]["scores"]["guard"]["hate"] > 0.9
    assert "refusal" in hateful["output"]["scores"]
    human = run_cli("score", HATEFUL)
    assert "input: BLOCK" in human.stdout and "guard.hate" in human.stdout


def test_score_runs_a_preset():
    result = run_cli("score", "--json", "--preset", "fast", "I hate Mondays")
    assert result.returncode == 0, result.stderr
    import json

    scored = json.loads(result.stdout)
    assert scored["input"]["decision"] == "block"  # the word-level preset's known weakness
    assert set(scored["input"]["scores"]) == {"toxicity"}


def test_demo_upstream_command_serves_models_and_streams(opened):
    port = free_port()
    process = opened.enter_context(subprocess.Popen(  # its pipes close at the end
        [*CLI, "demo-upstream", "--port", str(port)], env=ENV, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True))
    try:
        wait_ready(f"http://127.0.0.1:{port}/v1/models", process)
        client = opened.enter_context(openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1",
                                                    api_key="x"))
        stream = client.chat.completions.create(
            model="demo", messages=[{"role": "user", "content": "[[refuse]]"}], stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text.startswith("I'm sorry")
    finally:
        process.terminate()
        process.wait(timeout=10)
