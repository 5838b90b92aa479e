"""Start-up with bad or missing files fails with one clear message, through the config too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from classifiers import registry
from classifiers.base import ClassifierConfigError
from proxy.config.loader import ConfigError, parse
from proxy.config.snapshot import build_snapshot
from tests.classifiers.detoxify_fixtures import tiny_detoxify

pytest.importorskip("torch")
pytest.importorskip("detoxify")

HOW_TO = "To provide weights: download them once"


async def start_error(options: dict) -> str:
    classifier = registry.build("detoxify", "tox", options)
    with pytest.raises(ClassifierConfigError) as caught:
        await classifier.start()
    message = str(caught.value)
    assert HOW_TO in message and "Traceback" not in message and "\n" not in message
    return message


async def test_a_missing_checkpoint_names_the_file(tmp_path):
    missing = tmp_path / "nowhere" / "toxic.ckpt"
    message = await start_error(tiny_detoxify().options(checkpoint=str(missing)))
    assert f"checkpoint file {missing} does not exist" in message


async def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path):
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"this is not a checkpoint")
    message = await start_error(tiny_detoxify().options(checkpoint=str(junk)))
    assert f"{junk} is not a Detoxify checkpoint" in message


async def test_a_missing_or_empty_config_folder_is_refused(tmp_path):
    options = tiny_detoxify().options(huggingface_config_path=str(tmp_path / "x"))
    message = await start_error(options)
    assert f"huggingface_config_path folder {tmp_path / 'x'} does not exist" in message
    message = await start_error(tiny_detoxify().options(huggingface_config_path=str(tmp_path)))
    assert f"{tmp_path} has no config.json" in message


async def test_a_config_folder_of_another_model_is_refused(tmp_path):
    folder = tmp_path / "other"
    shutil.copytree(tiny_detoxify().config_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 3}))
    message = await start_error(tiny_detoxify().options(huggingface_config_path=str(folder)))
    assert "lacks" in message and "bert.encoder.layer.2" in message


async def test_a_config_folder_without_tokenizer_is_refused(tmp_path):
    folder = tmp_path / "no-tokenizer"
    folder.mkdir()
    shutil.copy(tiny_detoxify().config_dir / "config.json", folder)
    message = await start_error(tiny_detoxify().options(huggingface_config_path=str(folder)))
    assert f"the tokenizer in {folder} has 5 tokens but the model has 30522" in message


def detoxify_config(options: dict) -> bytes:
    return yaml.safe_dump({
        "upstream": {"base_url": "http://127.0.0.1:9/v1"},
        "checks": [{"name": "toxicity", "type": "detoxify", "options": options}],
        "policy": {"input": {"toxicity": {"insult": {"flag": 0.5, "block": 0.9},
                                          "identity_attack": {"flag": 0.5}}},
                   "toxic_labels": ["toxicity.toxicity", "toxicity.insult"]},
    }).encode()


async def test_a_config_file_with_type_detoxify_builds_a_started_check(tmp_path):
    options = {k: str(v) for k, v in tiny_detoxify().options().items()}
    loaded = parse(detoxify_config(options), str(tmp_path / "proxy.yaml"))
    snapshot = await build_snapshot(loaded)
    try:
        [check] = snapshot.checks
        [scores] = await check.classifier.classify(["you are a complete idiot"])
        assert "insult" in scores and 0.0 <= scores["insult"] <= 1.0
    finally:
        await snapshot.close()


async def test_a_config_with_a_missing_checkpoint_fails_with_file_and_how_to(tmp_path):
    options = {**tiny_detoxify().options(), "checkpoint": str(tmp_path / "gone.ckpt")}
    source = str(tmp_path / "proxy.yaml")
    with pytest.raises(ConfigError) as caught:
        await build_snapshot(parse(detoxify_config(options), source))
    message = str(caught.value)
    assert message.startswith(f"{source}: detoxify: checkpoint file {tmp_path / 'gone.ckpt'}")
    assert HOW_TO in message


async def test_a_policy_label_the_model_lacks_is_a_config_error(tmp_path):
    raw = detoxify_config({k: str(v) for k, v in tiny_detoxify().options().items()})
    raw = raw.replace(b"identity_attack", b"sexual_explicit")  # original has no such class
    with pytest.raises(ConfigError, match="sexual_explicit: unknown label"):
        await build_snapshot(parse(raw, str(tmp_path / "proxy.yaml")))


def test_paths_in_options_may_use_a_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    classifier = registry.build("detoxify", "tox", {"checkpoint": "~/toxic.ckpt"})
    assert classifier.settings.checkpoint == Path("~/toxic.ckpt")  # expanded when loading


def test_a_missing_runtime_package_is_a_config_error(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def without_onnxruntime(name: str, *args):
        return None if name == "onnxruntime" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_onnxruntime)
    with pytest.raises(ClassifierConfigError,
                       match=r"onnxruntime.*checkout, pip install '\.\[onnx\]'"):
        registry.build("detoxify", "tox", {"runtime": "onnx"})
