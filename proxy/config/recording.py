"""How much of the conversation a record keeps: one text mode, one truncation knob, for
every section that records texts (``logging``: the request's log line; ``events``: the
review stream).

Contract: ``off`` keeps nothing; ``truncated`` keeps the first ``truncate_chars`` characters
of each text, marked with "…" where it was cut; ``full`` keeps everything.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from proxy.config.strict import Strict

TextMode = Literal["off", "truncated", "full"]


class TextRecording(Strict):
    # The base of a config section that records texts (a comment, not a docstring: a
    # docstring would become each section's description in the JSON schema).
    text: TextMode = "off"
    truncate_chars: int = Field(default=200, gt=0)

    @field_validator("text", mode="before")
    @classmethod
    def _yaml_off(cls, value: object) -> object:
        return "off" if value is False else value  # YAML 1.1 reads a bare `off` as false

    def kept(self, text: str) -> str:
        """What a record keeps of ``text`` (call it only when ``text`` is not ``off``)."""
        if self.text == "full" or len(text) <= self.truncate_chars:
            return text
        return text[: self.truncate_chars] + "…"
