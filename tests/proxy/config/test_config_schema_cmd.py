"""`safety-proxy config-schema`: the checked-in JSON Schema is the command's output, and the
shipped configs validate against it (as an editor reads YAML: 1.2, where `off` is text)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from proxy.cli import main
from proxy.commands.config_schema import render

REPO = Path(__file__).resolve().parents[3]
CHECKED_IN = REPO / "deploy" / "safety-proxy.schema.json"
FIXTURE = Path(__file__).parent / "fixtures" / "interpolated.yaml"
SHIPPED = (REPO / "proxy" / "config" / "defaults.yaml", REPO / "deploy" / "proxy.compose.yaml")


class Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 core scalars, as yaml-language-server reads them: only true/false are
    booleans (`off` stays text) and dates stay text."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool",
                                   re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                   list("tTfF"))


def as_editor_reads(path: Path) -> Any:
    return yaml.load(path.read_text(), Loader=Yaml12Loader)  # a SafeLoader


def test_the_checked_in_schema_is_the_commands_output(capsys) -> None:
    assert main(["config-schema"]) == 0
    printed = capsys.readouterr().out
    assert printed == render()
    assert CHECKED_IN.read_text() == printed, (
        "deploy/safety-proxy.schema.json is stale: regenerate it with "
        "`safety-proxy config-schema > deploy/safety-proxy.schema.json`")


def test_the_schema_types_secrets_as_strings_and_forbids_unknown_keys() -> None:
    schema = json.loads(render())
    secret = schema["$defs"]["UpstreamConfig"]["properties"]["api_key"]["anyOf"][0]
    assert secret["type"] == "string" and secret.get("writeOnly") is True
    assert schema["$defs"]["ServerConfig"]["additionalProperties"] is False
    assert schema["required"] == ["upstream"]


def test_the_fixture_names_the_checked_in_schema_for_editors() -> None:
    first = FIXTURE.read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    assert (FIXTURE.parent / first.split("=", 1)[1]).resolve() == CHECKED_IN


@pytest.mark.parametrize("path", [*SHIPPED, FIXTURE], ids=lambda path: path.name)
def test_shipped_configs_validate_against_the_schema(path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(CHECKED_IN.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = [error.message for error in
              jsonschema.Draft202012Validator(schema).iter_errors(as_editor_reads(path))]
    assert errors == []


def test_the_schema_rejects_what_the_loader_rejects() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json.loads(CHECKED_IN.read_text()))
    base = {"upstream": {"base_url": "http://127.0.0.1:1/v1"}}
    assert not list(validator.iter_errors({**base, "server": {"port": "${PORT:-8080}"}}))
    for bad in ({**base, "server": {"prot": 8080}}, {**base, "server": {"port": "eighty"}},
                {**base, "logging": {"level": "loud"}}, {"server": {}}):
        assert list(validator.iter_errors(bad)), bad
