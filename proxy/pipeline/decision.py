"""Decision: a pure function of scores, policy and check failures. No I/O. (The values it
works with, Decision, Reason and CheckFailure, live in proxy/verdict.py.)

Contract: for one direction, every (check, label) with thresholds in the policy is compared
with its highest score over the texts scored; ``block`` wins over ``flag`` wins over
``allow``. A check that failed with ``on_error: fail_closed`` blocks; with ``fail_open`` it
is ignored here (and counted elsewhere). Labels a check did not return (for example texts a
sampled judge skipped) are simply absent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from proxy.config.schema import DirectionPolicy
from proxy.verdict import ALLOW, Action, CheckFailure, Decision, Reason

_RANK: dict[str, int] = {"allow": 0, "flag": 1, "redact": 1, "block": 2}


def max_scores(scores: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Highest score per label over several texts."""
    best: dict[str, float] = {}
    for text_scores in scores:
        for label, score in text_scores.items():
            if score > best.get(label, -1.0):
                best[label] = score
    return best


def decide(
    policy: DirectionPolicy,
    scores: Mapping[str, Mapping[str, float]],
    failures: Iterable[CheckFailure] = (),
) -> Decision:
    """``scores`` maps check name -> label -> the highest score of that label."""
    reasons = [
        Reason(failure.classifier, failure.kind, None, None, "block")
        for failure in failures
        if failure.on_error == "fail_closed"
    ]
    for check_name, label_thresholds in policy.items():
        check_scores = scores.get(check_name, {})
        for label, thresholds in label_thresholds.items():
            score = check_scores.get(label)
            if score is None:
                continue
            if thresholds.block is not None and score >= thresholds.block:
                reasons.append(Reason(check_name, label, score, thresholds.block, "block"))
            elif thresholds.redact is not None and score >= thresholds.redact:
                reasons.append(Reason(check_name, label, score, thresholds.redact, "redact"))
            elif thresholds.flag is not None and score >= thresholds.flag:
                reasons.append(Reason(check_name, label, score, thresholds.flag, "flag"))
    if not reasons:  # the common case: no new object
        return ALLOW
    return Decision(strongest(reason.action for reason in reasons), tuple(reasons))


UNREADABLE = Reason("unreadable_content", "unreadable", None, None, "flag")


def unreadable_decision(count: int, choice: Action) -> Decision:
    """The decision for ``count`` parts no text classifier can read (images, audio, files),
    by the policy's choice for them: allow adds nothing; flag or block gives one reason."""
    if not count or choice == "allow":
        return ALLOW
    return Decision(choice, (Reason(UNREADABLE.classifier, UNREADABLE.label, None, None,
                                    choice),))


def strongest(actions: Iterable[str]) -> Action:
    rank = max((_RANK[action] for action in actions), default=0)
    return ("allow", "flag", "block")[rank]


def combine(*decisions: Decision) -> Decision:
    """One decision for a request from its per-direction (or per-choice) decisions."""
    if len(decisions) == 1:
        return decisions[0]
    reasons = tuple(reason for decision in decisions for reason in decision.reasons)
    if not reasons and all(decision.action == "allow" for decision in decisions):
        return ALLOW  # the common case, read several times per request: no new object
    return Decision(strongest(decision.action for decision in decisions), reasons)
