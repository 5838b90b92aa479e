"""One JSON log line per request, with no API key and no prompt unless the config says so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from tests.conftest import free_port
from tests.proxy.test_cli import ENV, wait_ready

CLIENT_KEY = "sk-client-secret-4242"
UPSTREAM_KEY = "sk-upstream-secret-9999"
PROMPT = "my very private prompt about zebras"
DEFAULTS = Path(__file__).resolve().parents[2] / "proxy/config/defaults.yaml"


def run_proxy_and_log(tmp_path: Path, text_mode: str) -> list[dict]:
    upstream_port, port = free_port(), free_port()
    config = yaml.safe_load(DEFAULTS.read_text())
    config["upstream"] = {"base_url": f"http://127.0.0.1:{upstream_port}/v1",
                          "api_key_env": "SP_TEST_UPSTREAM_KEY"}
    config["logging"] = {"format": "json", "text": text_mode}
    path = tmp_path / f"proxy-{text_mode}.yaml"
    path.write_text(yaml.safe_dump(config))
    upstream = subprocess.Popen([sys.executable, "-m", "proxy", "demo-upstream", "--port",
                                 str(upstream_port)], env=ENV, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, text=True)
    proxy = subprocess.Popen([sys.executable, "-m", "proxy", "serve", "--config", str(path),
                              "--port", str(port)], env={**ENV, "SP_TEST_UPSTREAM_KEY":
                                                         UPSTREAM_KEY},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(f"http://127.0.0.1:{upstream_port}/v1/models", upstream)
        wait_ready(f"http://127.0.0.1:{port}/readyz", proxy)
        headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
        for content in (PROMPT, "you stupid fucking idiot"):
            httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", headers=headers,
                       json={"model": "m", "messages": [{"role": "user", "content": content}]})
        upstream.terminate()
        upstream.wait(timeout=10)
        failed = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", headers=headers,
                            json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
        assert failed.status_code == 502 and UPSTREAM_KEY not in failed.text
    finally:
        proxy.terminate()
        _, stderr = proxy.communicate(timeout=10)
        upstream.kill()
    assert CLIENT_KEY not in stderr and UPSTREAM_KEY not in stderr
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "request"]


def test_request_lines_carry_decisions_but_no_secrets_or_text(tmp_path):
    lines = run_proxy_and_log(tmp_path, "off")
    assert [line["decision"] for line in lines] == ["allow", "block", "allow"]
    assert lines[1]["reasons"][0]["classifier"] == "toxicity"
    assert lines[2]["error"] == "upstream_unreachable"
    assert all(line["request_id"] and "duration_ms" in line for line in lines)
    assert not any(PROMPT in json.dumps(line) for line in lines)


def test_text_is_logged_only_when_configured(tmp_path):
    lines = run_proxy_and_log(tmp_path, "full")
    assert lines[0]["texts"]["input"] == [PROMPT]
