"""Environment interpolation in config values: ``${VAR}`` and ``${VAR:-default}``.

Rules (the README's configuration reference states them for operators):

- Only values are interpolated, never keys (a key holding ``${`` is an error) nor comments.
- ``${VAR}`` is the variable's value; an unset variable is an error naming the file and line.
  ``${VAR:-default}`` is ``default`` when VAR is unset or empty. A default is literal text up
  to the first ``}`` and holds no reference.
- ``$${`` is a literal ``${``; a ``$`` not followed by ``{`` is an ordinary character.
- A plain (unquoted) value that is exactly one reference is typed as YAML types the same text
  written in place: ``port: ${PORT:-8080}`` is the number 8080, ``true`` a boolean, an empty
  value null. Anything else (quoted, block, or text around the reference) stays a string.
- The substituted text is only ever a scalar: it cannot add keys, lists or anchors.

Variable values may be secrets: no message here holds one, and ``Interpolated.values`` lets
the loader scrub them from validation messages.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.events import ScalarEvent

_TOKEN = re.compile(r"\$\$\{|\$\{(?P<body>[^}]*)(?P<close>\}?)")
_REFERENCE = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.DOTALL)
_STRING_TAG = "tag:yaml.org,2002:str"
_NEWLINE = "\n"


@dataclass(slots=True)
class Interpolated:
    """What one document's interpolation did: its errors (file:line messages) and the
    substituted values (secrets possibly), kept only to be scrubbed from messages."""

    errors: list[str] = field(default_factory=list)
    values: set[str] = field(default_factory=set)


def load_yaml(text: str, source: str,
              environ: Mapping[str, str] | None = None) -> tuple[Any, yaml.Node | None,
                                                                 Interpolated]:
    """(data, node tree, report) of one YAML document, values interpolated from ``environ``
    (the process environment by default). YAML syntax errors raise ``yaml.YAMLError``."""
    loader = _Loader(text, source, os.environ if environ is None else environ)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return data, node, loader.report


class _Loader(yaml.SafeLoader):
    """SafeLoader that interpolates each scalar event before YAML resolves its type."""

    def __init__(self, text: str, source: str, environ: Mapping[str, str]) -> None:
        super().__init__(text)
        self.source, self.environ = source, environ
        self.report = Interpolated()

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        # A mapping composes its key with index None, then its value with the key node.
        if self.check_event(ScalarEvent):
            is_key = isinstance(parent, yaml.MappingNode) and index is None
            self._interpolate(self.peek_event(), is_key)  # type: ignore[no-untyped-call]
        return super().compose_node(parent, index)

    def _interpolate(self, event: ScalarEvent, is_key: bool) -> None:
        if "${" not in event.value:
            return
        whole = _TOKEN.fullmatch(event.value)
        retyped = not is_key and whole is not None and whole.group("body") is not None
        event.value = substitute(event.value, self.environ, self._where(event), is_key,
                                 self.report)
        if not retyped and event.tag is None and event.implicit[0]:
            event.tag = _STRING_TAG  # text around a reference stays a string

    def _where(self, event: ScalarEvent) -> Callable[[int], str]:
        """file:line of a position in the scalar's value (a literal block's own line; the
        first line of other multi-line scalars, whose line breaks YAML folds)."""
        line = event.start_mark.line + 1 if event.start_mark is not None else 1
        if event.style == "|":
            text = event.value
            return lambda at: f"{self.source}:{line + 1 + text.count(_NEWLINE, 0, at)}"
        first = line + 1 if event.style == ">" else line
        return lambda at: f"{self.source}:{first}"


def substitute(text: str, environ: Mapping[str, str], where: Callable[[int], str],
               is_key: bool, report: Interpolated) -> str:
    """``text`` with its references replaced; problems are added to ``report.errors``, each
    at ``where(position in text)``."""
    def one(match: re.Match[str]) -> str:
        if match.group("body") is None:
            return "${"  # $${: a literal
        if is_key:
            report.errors.append(f"{where(match.start())}: ${{...}} is not expanded in keys, "
                                 "only in values (write $${ for a literal ${)")
            return match.group(0)
        return _resolve(match, environ, where(match.start()), report)
    return _TOKEN.sub(one, text)


def _resolve(match: re.Match[str], environ: Mapping[str, str], where: str,
             report: Interpolated) -> str:
    reference = _REFERENCE.fullmatch(match.group("body"))
    if not match.group("close") or reference is None or "${" in (reference["default"] or ""):
        report.errors.append(f"{where}: malformed ${{...}} reference: write ${{NAME}} or "
                             "${NAME:-default} (no nesting; $${ for a literal ${)")
        return match.group(0)
    name, default = reference["name"], reference["default"]
    value = environ.get(name)
    if default is not None and not value:
        return default
    if value is None:
        report.errors.append(f"{where}: environment variable {name} is not set (write "
                             f"${{{name}:-default}} to give a default)")
        return ""
    report.values.add(value)
    return value


def scrub(message: str, values: set[str]) -> str:
    """``message`` with every interpolated value of 4 characters or more replaced by
    ``<from the environment>`` (shorter ones are not secrets, and would mangle numbers)."""
    for value in sorted(values, key=len, reverse=True):
        if len(value) >= 4:
            message = message.replace(value, "<from the environment>")
    return message
