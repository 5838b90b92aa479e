"""The options of a judge behind an OpenAI-compatible endpoint, shared by ``type: rubric``
and ``type: llama_guard`` (a light module: pydantic only).

``base_url`` (http or https; a trailing ``/`` is dropped), ``model``, ``api_key_env`` (the
NAME of the environment variable holding the key: the key itself never enters the config),
``timeout_s`` per judge call (> 0), ``max_concurrency`` judge calls in flight (>= 1).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, field_validator

from classifiers.options import ClassifierOptions

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class JudgeOptions(ClassifierOptions):
    base_url: Annotated[str, Field(strict=True)]
    model: Annotated[str, Field(strict=True)]
    api_key_env: Annotated[str | None, Field(strict=True)] = None
    timeout_s: Annotated[float, Field(strict=True, gt=0)] = 10.0
    max_concurrency: Annotated[int, Field(strict=True, ge=1)] = 8

    @field_validator("base_url")
    @classmethod
    def _http(cls, base_url: str) -> str:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return base_url.rstrip("/")

    @field_validator("api_key_env", mode="before")
    @classmethod
    def _a_name(cls, name: Any) -> Any:
        # A key pasted here by mistake is refused without being quoted (it would be, later,
        # in "environment variable ... is not set").
        if name is not None and (not isinstance(name, str) or not _ENV_NAME.match(name)):
            raise ValueError("the NAME of an environment variable (letters, digits and _), "
                             "not the key itself")
        return name


class LlamaGuardOptions(JudgeOptions):
    """``type: llama_guard``: the endpoint's options only."""
