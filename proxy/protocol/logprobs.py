"""The text an answer's log-probabilities spell beside the answer, sans-IO.

A client that asks for ``top_logprobs`` receives, at every position of the answer, the
tokens the model found most likely there, chosen or not: text the answer's own checks
never read. Read as the model ranked them, the r-th most likely token of every position,
joined, is a text of its own (rank 0 is mostly the answer itself); a model told to write
one thing while "thinking" another leaves the other in the lower ranks. Each rank is
scored as a text of its choice (kind ``logprobs``), windowed apart in a stream.

Shapes read (anything else holds no alternatives; never raises):
- a list of positions ``{"token", "top_logprobs": [{"token", ...}, ...]}``: Chat
  Completions ``logprobs.content`` and ``logprobs.refusal``, Responses text parts and
  deltas;
- the legacy Completions object ``{"top_logprobs": [{token: logprob, ...}, ...]}``.
"""

from __future__ import annotations

from typing import Any

LOGPROBS_KIND = "logprobs"


def alternatives(logprobs: Any) -> list[tuple[int, str]]:
    """(rank, text) for every rank whose tokens spell something, most likely rank first."""
    ranks: list[list[str]] = []
    for options in _positions(logprobs):
        for rank, token in enumerate(options):
            if rank == len(ranks):
                ranks.append([])
            ranks[rank].append(token)
    return [(rank, text) for rank, tokens in enumerate(ranks)
            if (text := "".join(tokens)).strip()]


def _positions(value: Any) -> list[list[str]]:
    """Each position's alternative tokens, most likely first."""
    if isinstance(value, list):
        return [_tokens(entry.get("top_logprobs")) for entry in value if isinstance(entry, dict)]
    if not isinstance(value, dict):
        return []
    legacy = value.get("top_logprobs")
    if isinstance(legacy, list):
        return [_ranked(options) for options in legacy if isinstance(options, dict)]
    return _positions(value.get("content")) + _positions(value.get("refusal"))


def _tokens(options: Any) -> list[str]:
    if not isinstance(options, list):
        return []
    return [option["token"] for option in options
            if isinstance(option, dict) and isinstance(option.get("token"), str)]


def _ranked(options: dict[str, Any]) -> list[str]:
    """A legacy position's tokens by their log-probability, highest first."""
    return sorted((token for token in options if isinstance(token, str)),
                  key=lambda token: -_number(options[token]))


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else float("-inf")
