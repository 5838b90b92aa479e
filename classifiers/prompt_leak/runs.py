"""The longest run of consecutive words an answer shares with the instructions. Sans-IO.

``instruction_texts(conversation, roles)`` reads the request's instructions: each maximal
sequence of consecutive messages of the given roles is one text (an Anthropic ``system``
given as several blocks, or two system messages in a row, read as the model reads them).
``Instructions.of(texts)`` indexes their word pairs; a run never spans two texts.
``longest_run(answer_words, enough)`` walks the answer's word pairs once, keeping, for each
place in the instructions where the current pair stands, the length of the shared run
ending there; it stops as soon as a run reaches ``enough``. Its cost is the answer's length
times the mean number of places each of its word pairs holds in the instructions (mostly
none or one): about 50 us for a page of answer under a page of instructions.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from classifiers.prompt_leak.words import canonical_words


def instruction_texts(conversation: Sequence[Mapping[str, str]],
                      roles: Collection[str]) -> tuple[str, ...]:
    """The instructions as the model reads them: consecutive turns of ``roles`` joined."""
    texts: list[str] = []
    current: list[str] = []
    for turn in conversation:
        if turn.get("role") in roles:
            current.append(turn.get("content") or "")
        elif current:  # another speaker: the instruction text before it ends here
            texts.append("\n".join(current))
            current = []
    if current:
        texts.append("\n".join(current))
    return tuple(texts)


@dataclass(frozen=True, slots=True)
class Instructions:
    """The instructions' words and word pairs: each pair -> where it starts (one position
    is skipped between two texts, so no pair, and no run, crosses from one into the next)."""

    vocabulary: frozenset[str]
    pairs: Mapping[tuple[str, str], tuple[int, ...]]
    words: int  # how many words in all

    @classmethod
    def of(cls, texts: Sequence[str]) -> Instructions:
        pairs: dict[tuple[str, str], list[int]] = {}
        vocabulary: set[str] = set()
        position = words = 0
        for text in texts:
            found = canonical_words(text)
            vocabulary.update(found)
            for offset, pair in enumerate(pairwise(found)):
                pairs.setdefault(pair, []).append(position + offset)
            position += len(found) + 1
            words += len(found)
        return cls(frozenset(vocabulary), {pair: tuple(at) for pair, at in pairs.items()},
                   words)

    def longest_run(self, answer: Sequence[str], enough: int) -> int:
        """The most consecutive answer words found consecutive in the instructions, or
        ``enough`` once a run that long is found. Runs grow pair by pair: a pair of the
        answer that starts right after the previous pair's place in the instructions
        extends that run (word pairs are far rarer than words: "the" stands everywhere,
        "the customer" in few places)."""
        best = 1 if any(word in self.vocabulary for word in answer) else 0
        runs: dict[int, int] = {}  # where a pair starts -> words of the run ending with it
        for pair in pairwise(answer):
            runs = {at: runs.get(at - 1, 1) + 1 for at in self.pairs.get(pair, ())}
            if runs:
                best = max(best, *runs.values())
                if best >= enough:
                    return enough
        return best
