"""A model's classes (its config's ``id2label``) as policy labels, and its activation.

Labels are the class names lower-cased with every run of other characters made one ``_``
(``BENIGN`` -> ``benign``, ``LABEL_0`` -> ``label_0``), then renamed by the check's
``labels`` option; two columns may not end with one name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from classifiers.base import ClassifierConfigError
from classifiers.sequence.activation import Activation


def safe_label(name: str, column: int) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or f"label_{column}"


def label_columns(class_names: Sequence[str], renames: Mapping[str, str]) -> dict[str, int]:
    """Policy label -> the model's output column, in column order."""
    safe = [safe_label(name, column) for column, name in enumerate(class_names)]
    unknown = [key for key in renames if key not in class_names and key not in safe]
    if unknown:
        raise ClassifierConfigError(
            f"transformers: labels: {unknown[0]!r} is not one of the model's labels "
            f"{list(class_names)}")
    columns: dict[str, int] = {}
    for column, (name, plain) in enumerate(zip(class_names, safe, strict=True)):
        label = renames.get(name, renames.get(plain, plain))
        if label in columns:
            raise ClassifierConfigError(
                f"transformers: the model's labels {class_names[columns[label]]!r} and "
                f"{name!r} would both be named {label!r}; rename one with the labels option")
        columns[label] = column
    return columns


def class_names(config: Any) -> tuple[str, ...]:
    """The output columns' names, in order, from the model config's id2label."""
    id2label = {int(key): str(value) for key, value in config.id2label.items()}
    return tuple(id2label.get(column, f"LABEL_{column}") for column in range(config.num_labels))


def choose_activation(requested: str, config: Any) -> Activation:
    """auto: sigmoid for a multi-label model (or a single logit), softmax otherwise."""
    problem = getattr(config, "problem_type", None)
    if problem == "regression":
        raise ClassifierConfigError(
            "transformers: the model is a regression model (problem_type: regression); its "
            "outputs are not class scores")
    if requested == "softmax" and config.num_labels < 2:
        raise ClassifierConfigError(
            "transformers: activation: softmax needs at least two labels (over one label it is "
            "always 1); use activation: sigmoid")
    if requested in ("sigmoid", "softmax"):
        return "sigmoid" if requested == "sigmoid" else "softmax"
    if problem == "multi_label_classification" or config.num_labels < 2:
        return "sigmoid"
    return "softmax"
