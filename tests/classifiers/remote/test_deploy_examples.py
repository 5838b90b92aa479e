"""deploy/inference/: every JSON and YAML example parses; each model-settings.json validates
with MLServer's own ModelSettings, names our runtime, and carries options our config loader
accepts for its check type (with a local runtime); the KServe manifests fit together."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from classifiers import registry

pytest.importorskip("mlserver")
from classifiers.remote.mlserver_runtime import FAMILIES  # (needs mlserver)

INFERENCE = Path(__file__).resolve().parents[3] / "deploy" / "inference"
MODEL_SETTINGS = sorted(INFERENCE.glob("*/model-settings.json"))


def test_the_examples_are_there() -> None:
    assert [path.parent.name for path in MODEL_SETTINGS] == ["prompt-injection", "toxicity"]
    assert json.loads((INFERENCE / "settings.json").read_text())["parallel_workers"] == 0


@pytest.mark.parametrize("path", MODEL_SETTINGS, ids=lambda path: path.parent.name)
def test_a_model_settings_example_validates_with_mlserver(path: Path) -> None:
    from mlserver.settings import ModelSettings

    settings = ModelSettings.parse_file(str(path))
    assert settings.name == path.parent.name
    assert settings.implementation.__qualname__ == "SequenceRuntime"
    extra = settings.parameters.extra
    assert extra["type"] in FAMILIES
    options = registry.parse_options(extra["type"], settings.name, extra["options"])
    assert options.runtime in ("torch", "onnx")  # type: ignore[attr-defined]


def test_the_kserve_manifests_fit_together() -> None:
    runtime, service = yaml.safe_load_all((INFERENCE / "kserve.yaml").read_text())
    assert runtime["kind"] == "ServingRuntime" and service["kind"] == "InferenceService"
    model = service["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["protocolVersion"] in runtime["spec"]["protocolVersions"]
    formats = [f["name"] for f in runtime["spec"]["supportedModelFormats"]]
    assert model["modelFormat"]["name"] in formats
    container = runtime["spec"]["containers"][0]
    assert container["command"][:2] == ["mlserver", "start"]
