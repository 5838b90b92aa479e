"""Check options are validated when the config loads: a typo or a bad value is refused by
the loader (so by ``check-config --no-start`` and by a hot reload) with the file's line, the
check and the key; every shipped config and README example still loads."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from classifiers.options import ClassifierOptions
from proxy.config.check_options import parse_check_options
from proxy.config.loader import ConfigError, load_embedded_defaults, load_file, parse
from proxy.config.schema import CheckConfig
from proxy.config.snapshot import build_snapshot
from tests.classifiers.option_cases import MINIMAL, SECRET, WRONG

REPO = Path(__file__).resolve().parents[3]
HEAD = "upstream:\n  base_url: http://127.0.0.1:9/v1\nchecks:\n"


def config_with(type_name: str, options: dict[str, Any]) -> bytes:
    """A config whose second check (line 6 on) is ``type_name`` with ``options``, one top-level
    option per line from line 9, in the order given."""
    lines = [HEAD + "  - name: first\n    type: refusal\n",
             f"  - name: second\n    type: {type_name}\n    options:\n"]
    lines += [f"      {key}: {json.dumps(value)}\n" for key, value in options.items()]
    return "".join(lines).encode()


def error_of(raw: bytes) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(raw, "proxy.yaml")
    return str(caught.value)


@pytest.mark.parametrize("type_name", sorted(MINIMAL))
def test_an_unknown_key_is_refused_at_load_naming_line_check_and_key(type_name: str) -> None:
    raw = config_with(type_name, {"typo_key": 1, **MINIMAL[type_name]})
    message = error_of(raw)
    assert message.startswith(f"proxy.yaml:9: checks[1] 'second' (type {type_name}): "
                              "options.typo_key: unknown option"), message
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize(("type_name", "options", "key"), WRONG)
def test_a_wrong_value_is_refused_at_load_naming_check_and_key(
        type_name: str, options: dict[str, Any], key: str) -> None:
    message = error_of(config_with(type_name, {**MINIMAL[type_name], **options}))
    assert re.match(rf"proxy\.yaml:\d+: checks\[1\] 'second' \(type {type_name}\): "
                    rf"options\.{re.escape(key)}: ", message), message


def test_every_problem_has_its_own_line_in_file_order() -> None:
    raw = config_with("heads", {"threads": "two", "hedas": ["hate"], "max_batch": 0})
    assert error_of(raw).splitlines() == [
        "proxy.yaml:9: checks[1] 'second' (type heads): options.threads: "
        "a whole number >= 1 or auto, got 'two'",
        "proxy.yaml:10: checks[1] 'second' (type heads): options.hedas: unknown option; known: "
        "cache_size, heads, max_batch, max_wait_ms, model_dir, onnx_cache_dir, runtime, "
        "sentences, threads",
        "proxy.yaml:11: checks[1] 'second' (type heads): options.max_batch: "
        "Input should be greater than or equal to 1",
    ]


def test_an_unknown_type_is_refused_at_load() -> None:
    message = error_of(HEAD.encode() + b"  - name: tox\n    type: nonsense\n")
    assert message.startswith("proxy.yaml:5: checks[0] 'tox' (type nonsense): unknown "
                              "classifier type 'nonsense'; known types: ")


def test_secrets_stay_out_of_load_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    # a short value from the environment, where a message quotes a short word: scrubbed
    monkeypatch.setenv("SHORT_SECRET", "hunter2hunter2")
    message = error_of(config_with("heads", {"runtime": "${SHORT_SECRET}"}))
    assert message == ("proxy.yaml:9: checks[1] 'second' (type heads): options.runtime: one "
                       "of auto, numpy, onnx, onnx-int8, got '<from the environment>'")
    # pasted in place of the variable's name, under a wrong key, or from the environment
    monkeypatch.setenv("JUDGE_KEY", SECRET)
    judge = {**MINIMAL["llama_guard"]}
    for options in ({**judge, "api_key_env": SECRET}, {**judge, "api_key": SECRET},
                    {**judge, "timeout_s": "${JUDGE_KEY}"}, {**judge, "model": 7,
                                                            "max_concurrency": "${JUDGE_KEY}"}):
        message = error_of(config_with("llama_guard", options))
        assert "checks[1] 'second' (type llama_guard): options." in message
        assert SECRET not in message and "sk-live" not in message, message


async def test_the_snapshot_hands_the_parsed_options_to_the_classifiers() -> None:
    loaded = parse(config_with("rules", {"detectors": ["email"]}), "proxy.yaml")
    parsed = loaded.check_options["second"]
    assert isinstance(parsed, ClassifierOptions)
    snapshot = await build_snapshot(loaded)
    try:
        rules = {check.name: check.classifier for check in snapshot.checks}["second"]
        assert rules.settings is parsed  # type: ignore[attr-defined]
        assert rules.labels == ("email",)
    finally:
        await snapshot.close()


def test_every_shipped_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFETY_PROXY_PRINCIPAL_SECRET", "a-test-secret-of-32-characters!!")
    shipped = [load_embedded_defaults(preset) for preset in ("default", "fast")]
    shipped += [load_file(REPO / "deploy" / "proxy.compose.yaml"),
                load_file(REPO / "deploy" / "kubernetes" / "base" / "proxy.yaml")]
    for loaded in shipped:
        assert set(loaded.check_options) == {c.name for c in loaded.config.checks}


def readme_checks() -> list[dict[str, Any]]:
    readme = (REPO / "README.md").read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", readme, re.S)]
    return [check for block in blocks if isinstance(block, dict) and "checks" in block
            for check in block["checks"]]


def test_every_readme_check_example_parses() -> None:
    checks = [CheckConfig.model_validate(check) for check in readme_checks()]
    assert {check.type for check in checks} >= set(MINIMAL) - {"profanity"}
    parsed, problems = parse_check_options(checks)
    assert problems == []
    assert set(parsed) == {check.name for check in checks}


def test_check_config_no_start_refuses_a_typo(tmp_path: Path) -> None:
    path = tmp_path / "proxy.yaml"
    path.write_bytes(config_with("profanity", {"max_bach": 64}))
    done = subprocess.run([sys.executable, "-m", "proxy", "check-config", "--no-start",
                           str(path)], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 1
    assert done.stderr.strip() == (f"{path}:9: checks[1] 'second' (type profanity): "
                                   "options.max_bach: unknown option; known: "
                                   "inline_max_chars, max_batch, max_queue")
    path.write_bytes(config_with("profanity", {"max_batch": 64}))
    done = subprocess.run([sys.executable, "-m", "proxy", "check-config", "--no-start",
                           str(path)], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0 and "OK" in done.stdout
