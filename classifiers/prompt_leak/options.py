"""The options of a ``type: prompt_leak`` check (a light module: pydantic, the standard
library and the canonical words).

``run_words``: how many consecutive words of the instructions an answer repeats for
``verbatim`` to reach 1.0 (the score is the longest such run over it, capped at 1).
``min_instruction_words``: instructions with fewer words score ``verbatim`` 0 (a one-line
persona such as "You are a helpful assistant." is no secret, and answers echo it).
``roles``: the conversation roles whose texts are the instructions (each maximal sequence of
consecutive messages of these roles is read as one text, as the model reads it).
``canaries``: secret markers planted in the instructions; each needs at least
``CANARY_MIN_CHARS`` letters or digits once folded, so that it cannot turn up by chance.
Messages never quote a canary.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from classifiers.options import ClassifierOptions
from classifiers.prompt_leak.words import canonical_words, squashed

CANARY_MIN_CHARS = 8
# The roles the dialects give request texts (proxy/protocol/dialect.py, TextField.role).
Role = Literal["system", "developer", "user", "assistant", "tool", "definition", "extension"]


def _canary(value: str) -> str:
    letters = len(squashed(canonical_words(value)))
    if letters < CANARY_MIN_CHARS:
        raise ValueError(f"a canary needs at least {CANARY_MIN_CHARS} letters or digits "
                         f"(a random string of 12 or more is best); this one has {letters}")
    return value


Canary = Annotated[str, AfterValidator(_canary)]


class PromptLeakOptions(ClassifierOptions):
    run_words: int = Field(8, ge=2, le=1000)
    min_instruction_words: int = Field(20, ge=0)
    roles: tuple[Role, ...] = ("system", "developer")
    canaries: tuple[Canary, ...] = ()

    @field_validator("roles")
    @classmethod
    def _some_roles(cls, roles: tuple[Role, ...]) -> tuple[Role, ...]:
        if not roles:
            raise ValueError("name at least one role (default: [system, developer])")
        return roles
