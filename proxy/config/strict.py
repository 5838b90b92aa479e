"""The base of every config section: unknown keys are errors (a typo must not silently do
nothing) and a loaded config is immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
