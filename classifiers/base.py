"""The classifier contract shared by every classifier family.

A classifier only scores: it returns, for every text it is given, one score in [0, 1] per
label it declares. Thresholds and actions belong to the policy, never to a classifier.

Heavy classifiers load their model in :meth:`Classifier.start` (called once, before the
proxy reports ready) and run inference off the event loop. ``classify`` may be called
concurrently from many requests. A classifier whose scoring is a few microseconds of CPU
a text (a regex reader, a linear model) is an :class:`InProcessClassifier`: the proxy calls
it as a plain function in the request's own step (``classify_now``), with no coroutine,
task or timer around it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from classifiers.options import ClassifierOptions

Direction = Literal["input", "output"]
Scores = dict[str, float]


@dataclass(frozen=True, slots=True)
class ClassifyContext:
    """What a classifier may know besides the texts it scores.

    ``prompt`` is the last user message (for output checks that judge an answer against
    its prompt); ``conversation`` is the request's messages as plain role/content dicts.
    """

    direction: Direction
    prompt: str | None = None
    conversation: Sequence[Mapping[str, str]] = field(default_factory=tuple)

    def fingerprint(self) -> str:
        """A hash of everything here: the verdict cache's key for a classifier whose score
        depends on the context (``Classifier.reads_context``), so a verdict given under one
        prompt is never reused under another."""
        digest = hashlib.sha256(self.direction.encode())
        for part in (self.prompt, *(f"{t.get('role')}\x1e{t.get('content')}"
                                    for t in self.conversation)):
            digest.update(b"\x00" if part is None else b"\x01" + part.encode("utf-8", "replace"))
            digest.update(b"\x1f")
        return digest.hexdigest()[:32]


class ClassifierError(Exception):
    """A classifier could not score; the check's ``on_error`` decides what happens."""


class Overloaded(ClassifierError):
    """The classifier's queue is full of other requests' texts (backpressure, not a fault):
    counted apart from errors; the check's ``on_error`` decides what happens."""


class ClassifierConfigError(ValueError):
    """A classifier's options are wrong or its files are missing; the message says how to fix it."""


class Classifier:
    """Base class; subclasses set ``type_name`` and ``labels`` and implement ``classify``.

    ``name`` is the check's name from the config (several checks may share one type).
    ``options`` are the check's options: a mapping, or the model the config loader already
    parsed them into (classifiers/options.py); a type with an options model keeps the
    parsed model as ``settings``, a type without one (a test's scripted classifier) reads
    the mapping, ``options``.
    ``version`` identifies the model and options, so cached verdicts of another version
    are never reused.
    """

    type_name: ClassVar[str] = ""
    labels: tuple[str, ...] = ()
    # True when a score depends on the ClassifyContext (a judge that reads the prompt or
    # the conversation), not on the text alone: the verdict cache then keys on both.
    reads_context: ClassVar[bool] = False
    # True when the labels scored depend on the direction (``labels_for``): the verdict
    # cache then keys on the direction too, so a verdict given to an answer without a
    # label is never reused for the same text as an input.
    reads_direction: ClassVar[bool] = False
    # Whether the proxy also scores canonical views of a text (look-alike letters,
    # leetspeak...) when the check's config does not say: a pattern or small model is
    # blind to disguises; an LLM judge is not.
    normalize_by_default: ClassVar[bool] = True
    # True for an InProcessClassifier: its verdicts are kept in this process only (a round
    # trip to a shared store costs more than scoring the text again).
    in_process: ClassVar[bool] = False
    # Labels whose matches are personal data or secrets (a classifier that can ``redact``):
    # the proxy never stores their spans raw in a log line or a review event, whatever the
    # policy does with them.
    sensitive_labels: frozenset[str] = frozenset()

    def __init__(self, name: str,
                 options: ClassifierOptions | Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.options: dict[str, Any] = (dict(options) if isinstance(options, Mapping)
                                        else {} if options is None else options.model_dump())
        # Set by the proxy to observe model-call sizes; may be called from any thread.
        self.batch_listener: Callable[[int], None] | None = None

    def labels_for(self, direction: Direction) -> tuple[str, ...]:
        """The labels scored for texts of one direction (a policy may use only these);
        every label unless the classifier ``reads_direction``."""
        return self.labels

    def observe_batch(self, size: int) -> None:
        """Batching classifiers call this once per model call with the number of texts."""
        if self.batch_listener is not None:
            self.batch_listener(size)

    @property
    def version(self) -> str:
        return f"{self.type_name}:1"

    async def start(self) -> None:
        """Load models and warm up. Raises ClassifierConfigError with a clear message."""

    async def close(self) -> None:
        """Release threads, sessions and models."""

    async def classify(
        self, texts: Sequence[str], context: ClassifyContext | None = None
    ) -> list[Scores]:
        raise NotImplementedError

    def scores_now(self, texts: Sequence[str]) -> bool:
        """Whether ``classify_now`` would score ``texts`` (or any of them) at once, in the
        caller. False here: every call goes through ``classify``."""
        return False

    def classify_now(
        self, texts: Sequence[str], context: ClassifyContext | None = None
    ) -> list[Scores]:
        """``classify``'s scores, computed synchronously in the caller. Called only with
        texts ``scores_now`` accepted, in the same step (nothing ran between the two)."""
        raise NotImplementedError


class InProcessClassifier(Classifier):
    """A classifier whose scoring is plain CPU work in the caller, microseconds a text:
    subclasses implement ``classify_now``; ``classify`` is the same call. A long request's
    texts are scored in the caller's step too, as ``classify`` always did for these types
    (they are linear in the text). A subclass whose model can be busy elsewhere (a batcher's
    thread) overrides ``scores_now`` and ``classify``."""

    in_process: ClassVar[bool] = True

    def scores_now(self, texts: Sequence[str]) -> bool:
        return True

    async def classify(
        self, texts: Sequence[str], context: ClassifyContext | None = None
    ) -> list[Scores]:
        return self.classify_now(texts, context)


def content_key(*parts: str | None) -> str:
    """A cache key for texts: a hash, so a cache holds no conversation text as keys."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(b"\x00" if part is None else b"\x01" + part.encode("utf-8", "replace"))
        digest.update(b"\x1f")
    return digest.hexdigest()


def well_formed(text: str) -> str:
    """``text`` with each lone surrogate as U+FFFD. A Python str (and JSON) can hold one,
    UTF-8 cannot: a tokenizer or an encoder refuses the whole text, and a model serving a
    batch would fail every text in it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def cut_windows(text: str, size: int, context: int) -> list[str]:
    """A text longer than ``size`` characters as windows of ``size`` characters, each with
    the ``context`` characters before it; [] for a shorter text. How the proxy reads a long
    text beside the whole (proxy/pipeline/views.py), and so how training reads one."""
    if len(text) <= size:
        return []
    return [text[max(0, start - context):start + size] for start in range(0, len(text), size)]


def clamp(score: float) -> float:
    """Scores are probabilities; clamp numeric noise into [0, 1]."""
    return 0.0 if score < 0.0 else 1.0 if score > 1.0 else float(score)
