"""The words of a verdict, shared by every floor above the root: how a failing component
is handled (``OnError``), what a failed check is, what a decision and its reasons are.

Plain values, no policy: the pure function that reaches a decision from scores and a
policy is ``proxy.pipeline.decision.decide``. The state layer stores decisions (strikes,
review events), the protocol layer shows them to clients, tracing names failures: so the
types live here, on the lowest floor of the proxy (tests/test_layers.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# What a component does when it fails: fail_open lets the request through (counted),
# fail_closed blocks it (a check) or refuses it (the store).
OnError = Literal["fail_open", "fail_closed"]

Action = Literal["allow", "flag", "block"]
# A reason may also be "redact": the request goes on with the matched spans masked; for the
# request's decision a redaction weighs as a flag.
ReasonAction = Literal["flag", "block", "redact"]


@dataclass(frozen=True, slots=True)
class Reason:
    classifier: str
    label: str
    score: float | None  # None when the check failed
    threshold: float | None
    action: ReasonAction

    def as_dict(self) -> dict[str, object]:
        return {"classifier": self.classifier, "label": self.label, "score": self.score,
                "threshold": self.threshold, "action": self.action}


@dataclass(frozen=True, slots=True)
class CheckFailure:
    classifier: str
    kind: Literal["error", "timeout", "overloaded"]
    on_error: OnError


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reasons: tuple[Reason, ...] = field(default=())

    @property
    def blocked(self) -> bool:
        return self.action == "block"

    def redactions(self) -> dict[str, set[str]]:
        """check name -> labels whose matched spans must be masked."""
        wanted: dict[str, set[str]] = {}
        for reason in self.reasons:
            if reason.action == "redact":
                wanted.setdefault(reason.classifier, set()).add(reason.label)
        return wanted


ALLOW = Decision("allow")
