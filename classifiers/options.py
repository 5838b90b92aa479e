"""The options contract of every classifier type: one strict pydantic model per type.

A type's model derives from :class:`ClassifierOptions` (unknown keys are errors, a parsed
model is frozen) and lives in a light module of its family that imports pydantic, the
standard library and other light modules only, so a config is validated without the
family's optional extra installed. The registry names each type's model
(``classifiers.registry.options_model``). Options are parsed once, by :func:`parse_options`:
when the config loads (the proxy hands the parsed model to the classifier), or in the
classifier's constructor when it is given a plain mapping (:func:`settings_of`).

Messages name the key and never include the value pydantic rejected (its ``input_value``):
a secret written in the wrong place stays out of logs. Our own validators show a rejected
value only through :func:`shown`, which quotes short words alone (the typo in a detector,
region, head or runtime name) and describes anything longer.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from classifiers.base import ClassifierConfigError


class ClassifierOptions(BaseModel):
    """The base of every options model: strict keys, immutable once parsed."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class OptionProblem:
    """One rejected option: its path under ``options`` and what is wrong (no value quoted)."""

    key: tuple[str, ...]
    message: str

    @property
    def where(self) -> str:
        return ".".join(("options", *self.key))


class ClassifierOptionsError(ClassifierConfigError):
    """A check's options do not fit its type's model; one line per problem."""

    def __init__(self, check: str, type_name: str, problems: Sequence[OptionProblem]) -> None:
        self.check = check
        self.type_name = type_name
        self.problems = tuple(problems)
        super().__init__("\n".join(f"check {check!r} ({type_name}): {p.where}: {p.message}"
                                   for p in self.problems))


Model = TypeVar("Model", bound=ClassifierOptions)
SHOWN_CHARS = 24  # an API key or a password phrase is longer than a detector's name


def shown(value: Any) -> str:
    """A rejected value as a message may show it: quoted when it is a short word, else
    described by its kind and size, never repeated."""
    if isinstance(value, str) and len(value) <= SHOWN_CHARS and value.isprintable():
        return repr(value)
    if isinstance(value, str):
        return f"a text of {len(value)} characters"
    return "null" if value is None else f"a {type(value).__name__}"


def shown_all(values: Sequence[Any]) -> str:
    return f"[{', '.join(shown(value) for value in values)}]"


def parse_options(model: type[Model], check: str, type_name: str,
                  raw: Mapping[str, Any] | None) -> Model:
    """``raw`` validated by ``model``; ClassifierOptionsError naming each bad key otherwise."""
    try:
        return model.model_validate(dict(raw or {}))
    except ValidationError as exc:
        problems = [_problem(model, error) for error in exc.errors()]
        raise ClassifierOptionsError(check, type_name, problems) from None


def settings_of(model: type[Model], check: str, type_name: str,
                options: ClassifierOptions | Mapping[str, Any] | None) -> Model:
    """A classifier's parsed options: taken as they are when the config loader parsed them
    already, else parsed here (a classifier built directly, as tests and tools do)."""
    if isinstance(options, model):
        return options
    if isinstance(options, ClassifierOptions):
        raise ClassifierConfigError(f"check {check!r} ({type_name}): options parsed as "
                                    f"{type(options).__name__}, not {model.__name__}")
    return parse_options(model, check, type_name, options)


def _problem(model: type[ClassifierOptions], error: ErrorDetails) -> OptionProblem:
    key = tuple(str(part) for part in error["loc"] if part != "[key]")  # a mapping's key
    if error["type"] == "extra_forbidden":
        known = _known_keys(model, key[:-1])
        return OptionProblem(key, "unknown option" + (f"; known: {', '.join(known)}"
                                                      if known else ""))
    if error["type"] == "missing":
        return OptionProblem(key, "required")
    if error["type"] in ("value_error", "assertion_error"):
        # our validators' own words, without pydantic's "Value error, " prefix
        return OptionProblem(key, str(error.get("ctx", {}).get("error", error["msg"])))
    return OptionProblem(key, error["msg"])  # pydantic's msg never holds the input value


def _known_keys(model: type[ClassifierOptions], path: tuple[str, ...]) -> tuple[str, ...]:
    """The keys the (nested) model at ``path`` accepts; () when it is not a model."""
    node: Any = model
    for part in path:
        node = _child(node, part)
    if isinstance(node, type) and issubclass(node, BaseModel):
        return tuple(sorted(node.model_fields))
    return ()


def _child(node: Any, part: str) -> Any:
    if isinstance(node, type) and issubclass(node, BaseModel):
        field = node.model_fields.get(part)
        return _unwrap(field.annotation) if field is not None else None
    if typing.get_origin(node) in (dict, Mapping):
        return _unwrap(typing.get_args(node)[1])
    if typing.get_origin(node) in (list, tuple):
        return _unwrap(typing.get_args(node)[0])
    return None


def _unwrap(annotation: Any) -> Any:
    """``X | None`` and ``Annotated[X, ...]`` -> X."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(options[0]) if len(options) == 1 else None
    return annotation
