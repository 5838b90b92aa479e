"""Each check's options, parsed by its type's model when the config loads.

The models live with the classifiers (classifiers/options.py, found through
``classifiers.registry``) in light modules, so this needs no model file and no optional
extra: ``check-config --no-start`` and a hot reload refuse an unknown key or a bad value
before any classifier is built, and the snapshot hands the parsed options to the classifiers
(they are not parsed again). A problem names the check, its type and the key; its ``path``
(from the config's root) lets the loader add the file's line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from classifiers import registry
from classifiers.base import ClassifierConfigError
from classifiers.options import ClassifierOptions, ClassifierOptionsError
from proxy.config.schema import CheckConfig

# check name -> its options as the classifier takes them (a dict for a type without a model)
ParsedOptions = Mapping[str, ClassifierOptions | dict[str, Any]]


@dataclass(frozen=True, slots=True)
class OptionsProblem:
    path: tuple[str, ...]  # e.g. ("checks", "2", "options", "hedas")
    message: str  # e.g. "checks[2] 'guard' (type heads): options.hedas: unknown option; ..."


def parse_check_options(checks: Sequence[CheckConfig]
                        ) -> tuple[ParsedOptions, list[OptionsProblem]]:
    """The parsed options of every check, and the problems of those that do not parse."""
    parsed: dict[str, ClassifierOptions | dict[str, Any]] = {}
    problems: list[OptionsProblem] = []
    for index, check in enumerate(checks):
        where = f"checks[{index}] {check.name!r} (type {check.type})"
        try:
            parsed[check.name] = registry.parse_options(check.type, check.name, check.options)
        except ClassifierOptionsError as exc:
            problems += [OptionsProblem(("checks", str(index), "options", *p.key),
                                        f"{where}: {p.where}: {p.message}")
                         for p in exc.problems]
        except ClassifierConfigError as exc:  # an unknown type, or its module cannot load
            problems.append(OptionsProblem(("checks", str(index), "type"), f"{where}: {exc}"))
    return parsed, problems
