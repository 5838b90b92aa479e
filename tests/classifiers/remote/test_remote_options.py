"""``runtime: remote`` options, refused through the real config loader with the file's line,
the check and the key; and the remote path with torch and transformers unimportable."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from proxy.config.loader import ConfigError, parse
from tests.classifiers.option_cases import SECRET

REPO = Path(__file__).resolve().parents[3]
HEAD = "upstream:\n  base_url: http://127.0.0.1:9/v1\nchecks:\n"
REMOTE = {"url": "http://127.0.0.1:9", "model": "toxic"}


def config_with(type_name: str, options: dict[str, Any]) -> bytes:
    lines = [HEAD, f"  - name: tox\n    type: {type_name}\n    options:\n"]
    lines += [f"      {key}: {json.dumps(value)}\n" for key, value in options.items()]
    return "".join(lines).encode()


def error_of(type_name: str, options: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(config_with(type_name, options), "proxy.yaml")
    return str(caught.value)


def family_options(type_name: str) -> dict[str, Any]:
    return {"model": "served"} if type_name == "transformers" else {}


@pytest.mark.parametrize("type_name", ["detoxify", "transformers"])
def test_a_remote_check_loads(type_name: str) -> None:
    options = {**family_options(type_name), "runtime": "remote",
               "remote": {**REMOTE, "labels": ["toxic"], "api_key_env": "OIP_KEY"}}
    loaded = parse(config_with(type_name, options), "proxy.yaml")
    settings = loaded.check_options["tox"]
    assert settings.remote.url == "http://127.0.0.1:9"  # type: ignore[attr-defined]
    assert settings.runtime_tag() == "remote-toxic"  # type: ignore[attr-defined]


WRONG = [
    ({"runtime": "remote"}, "options", "runtime: remote needs a remote: block"),
    ({"remote": REMOTE}, "options", "remote: is read only with runtime: remote"),
    ({"runtime": "remote", "remote": {"model": "m"}}, "options.remote.url", "required"),
    ({"runtime": "remote", "remote": {**REMOTE, "url": "127.0.0.1:8080"}},
     "options.remote.url", "must start with http:// or https://"),
    ({"runtime": "remote", "remote": {**REMOTE, "max_batch": 0}}, "options.remote.max_batch",
     "greater than or equal to 1"),
    ({"runtime": "remote", "remote": {**REMOTE, "timeout_s": 0}}, "options.remote.timeout_s",
     "greater than 0"),
    ({"runtime": "remote", "remote": {**REMOTE, "labels": ["a", "a"]}},
     "options.remote.labels", "distinct"),
    ({"runtime": "remote", "remote": {**REMOTE, "model": "a/b"}}, "options.remote.model",
     "should match pattern"),
    ({"runtime": "remote", "remote": {**REMOTE, "urll": "x"}}, "options.remote.urll",
     "unknown option; known: api_key_env, backoff_s, input_name, labels, max_batch, "
     "max_concurrency, max_wait_ms, model, model_version, output_name, retries, timeout_s, "
     "url"),
]


@pytest.mark.parametrize("type_name", ["detoxify", "transformers"])
@pytest.mark.parametrize(("options", "where", "message"), WRONG)
def test_a_wrong_remote_option_is_refused_at_load(type_name: str, options: dict[str, Any],
                                                  where: str, message: str) -> None:
    error = error_of(type_name, {**family_options(type_name), **options})
    assert re.match(rf"proxy\.yaml:\d+: checks\[0\] 'tox' \(type {type_name}\): "
                    rf"{re.escape(where)}: .*{re.escape(message)}", error), error


def test_a_key_pasted_as_the_variables_name_is_refused_unquoted() -> None:
    error = error_of("detoxify", {"runtime": "remote",
                                  "remote": {**REMOTE, "api_key_env": SECRET}})
    assert "options.remote.api_key_env: the NAME of an environment variable" in error
    assert SECRET not in error and "sk-live" not in error


def test_the_remote_path_needs_neither_torch_nor_transformers() -> None:
    """Options parse, the classifiers build, start against a fake server and score, with
    torch, transformers, detoxify and onnxruntime unimportable."""
    code = """
import asyncio, sys
for name in ("torch", "transformers", "detoxify", "onnxruntime", "onnx", "tokenizers"):
    sys.modules[name] = None  # import raises ImportError
from classifiers import registry
from tests.classifiers.remote.fake_oip import FakeOIP
from tests.support.serving import serving

async def main():
    fake = FakeOIP(labels=["toxic", "insult"])
    async with serving(fake.app()) as url:
        remote = {"url": url, "model": "guard"}
        for type_name, extra in (("detoxify", {}), ("transformers", {"model": "m"})):
            classifier = registry.build(type_name, "c", {**extra, "runtime": "remote",
                                                         "remote": remote})
            await classifier.start()
            try:
                print(type_name, classifier.labels, len(await classifier.classify(["hi"])))
            finally:
                await classifier.close()
    assert not [m for m in sys.modules if m.startswith(("torch.", "transformers."))]

asyncio.run(main())
"""
    done = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["detoxify ('toxicity', 'insult') 1",
                                        "transformers ('toxic', 'insult') 1"]


def test_only_the_server_runtime_imports_mlserver() -> None:
    """The proxy never needs the serve extra: mlserver is imported in one module alone."""
    import ast

    importers = set()
    for path in (REPO / "classifiers").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(name.split(".")[0] == "mlserver" for name in names):
                importers.add(path.relative_to(REPO).as_posix())
    assert importers == {"classifiers/remote/mlserver_runtime.py"}
