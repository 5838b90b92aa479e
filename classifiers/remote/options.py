"""The options of ``runtime: remote`` (the ``remote:`` block of a detoxify or transformers
check). A light module: pydantic and the standard library (and other light modules).

``url`` is the server's base URL (http or https; a trailing ``/`` is dropped): requests go to
``{url}/v2/models/{model}[/versions/{model_version}]/infer``. ``labels`` names the output
columns in order; when absent they are read from the model's metadata, where our MLServer
runtime publishes them. ``timeout_s`` bounds one classify call, retries included.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator

from classifiers.judge_options import JudgeOptions
from classifiers.options import ClassifierOptions

_TENSOR_NAME = r"^[A-Za-z0-9_.\-]+$"


class RemoteOptions(ClassifierOptions):
    url: Annotated[str, Field(strict=True)]
    model: Annotated[str, Field(strict=True, pattern=_TENSOR_NAME)]
    model_version: Annotated[str | None, Field(strict=True, pattern=_TENSOR_NAME)] = None
    input_name: Annotated[str, Field(strict=True, min_length=1)] = "text"
    output_name: Annotated[str, Field(strict=True, min_length=1)] = "scores"
    labels: Annotated[tuple[str, ...] | None, Field(min_length=1)] = None
    timeout_s: float = Field(10.0, gt=0)
    max_batch: int = Field(64, ge=1)  # texts per inference call
    max_wait_ms: float = Field(1.0, ge=0)  # after the first text, for more to join its call
    max_concurrency: int = Field(8, ge=1)  # inference calls in flight
    # On 503, 429 or a connection error: up to `retries` more tries, sleeping a jittered
    # backoff_s * 2**try, never past timeout_s.
    retries: int = Field(2, ge=0, le=10)
    backoff_s: float = Field(0.05, ge=0)
    api_key_env: Annotated[str | None, Field(strict=True)] = None

    @field_validator("url")
    @classmethod
    def _http(cls, url: str) -> str:
        return JudgeOptions._http(url)  # one home for the base-URL rule

    @field_validator("api_key_env", mode="before")
    @classmethod
    def _a_name(cls, name: Any) -> Any:
        return JudgeOptions._a_name(name)  # one home for the env-var-name rule

    @field_validator("labels")
    @classmethod
    def _distinct(cls, labels: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if labels is not None and len(set(labels)) != len(labels):
            raise ValueError("the output columns' names must be distinct")
        return labels

    def tag(self) -> str:
        """The runtime part of a classifier's version: remote-<model>[@<version>]."""
        return f"remote-{self.model}" + (f"@{self.model_version}" if self.model_version else "")
