"""``safety-proxy config-schema``: print the config's JSON Schema (for editors and CI).

The schema is the validation schema of ``ProxyConfig`` (secret fields are strings). A value
the loader interpolates (``${VAR}``, ``${VAR:-default}``) is also accepted wherever the
schema wants a number, a boolean, a fixed choice or a pattern: the editor cannot know the
variable's value. The checked-in copy is ``deploy/safety-proxy.schema.json``; regenerate it
with ``safety-proxy config-schema > deploy/safety-proxy.schema.json``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from proxy.config.schema import ProxyConfig

# A value that is exactly one reference (proxy/config/interpolate.py).
ENV_REFERENCE = {"type": "string", "pattern": r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$",
                 "description": "${VAR} or ${VAR:-default}, read from the environment"}
_TYPED = ("integer", "number", "boolean")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("config-schema",
                                   help="print the config file's JSON Schema")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(render(), end="")
    return 0


def render() -> str:
    """The schema as the checked-in file holds it: indented JSON and a final newline."""
    return json.dumps(config_schema(), indent=2, ensure_ascii=False) + "\n"


def config_schema() -> dict[str, Any]:
    schema = ProxyConfig.model_json_schema()
    schema = _accept_references({"$schema": "https://json-schema.org/draft/2020-12/schema",
                                 **schema, "title": "safety-proxy configuration"})
    schema["$defs"]["EnvReference"] = ENV_REFERENCE
    return schema


def _accept_references(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every constrained scalar schema in it (typed, enum, const, pattern)
    widened to also accept an environment reference."""
    schema = dict(schema)
    for keyword in ("properties", "$defs"):  # maps of name -> schema
        if keyword in schema:
            schema[keyword] = {name: _accept_references(sub)
                               for name, sub in schema[keyword].items()}
    for keyword in ("items", "additionalProperties"):  # one schema (or a boolean)
        if isinstance(schema.get(keyword), dict):
            schema[keyword] = _accept_references(schema[keyword])
    for keyword in ("anyOf", "oneOf", "allOf", "prefixItems"):  # lists of schemas
        if keyword in schema:
            schema[keyword] = [_accept_references(sub) for sub in schema[keyword]]
    if not _constrained_scalar(schema):
        return schema
    meta: dict[str, Any] = {key: schema.pop(key) for key in ("title", "description", "default")
                            if key in schema}
    return {"anyOf": [schema, {"$ref": "#/$defs/EnvReference"}], **meta}


def _constrained_scalar(schema: dict[str, Any]) -> bool:
    return (schema.get("type") in _TYPED or "enum" in schema or "const" in schema
            or (schema.get("type") == "string" and "pattern" in schema))
