"""The decision function, exhaustively over the action lattice and its edge cases."""

from __future__ import annotations

import itertools

import pytest

from proxy.config.schema import Thresholds
from proxy.pipeline.decision import combine, decide, max_scores
from proxy.verdict import ALLOW, CheckFailure, Decision

POLICY = {"tox": {"insult": Thresholds(flag=0.5, block=0.8), "threat": Thresholds(block=0.7)},
          "pii": {"email": Thresholds(flag=0.5)}}


@pytest.mark.parametrize(("score", "action"), [
    (0.0, "allow"), (0.49, "allow"), (0.5, "flag"), (0.79, "flag"), (0.8, "block"), (1.0, "block"),
])
def test_thresholds_are_inclusive(score, action):
    decision = decide(POLICY, {"tox": {"insult": score}})
    assert decision.action == action
    if action != "allow":
        (reason,) = decision.reasons
        assert (reason.classifier, reason.label, reason.score) == ("tox", "insult", score)
        assert reason.threshold == (0.8 if action == "block" else 0.5)


def test_block_only_and_flag_only_labels():
    assert decide(POLICY, {"tox": {"threat": 0.69}}).action == "allow"
    assert decide(POLICY, {"tox": {"threat": 0.7}}).action == "block"
    assert decide(POLICY, {"pii": {"email": 1.0}}).action == "flag"


def test_strongest_action_wins_and_all_reasons_are_kept():
    for insult, email in itertools.product((0.0, 0.6, 0.9), (0.0, 1.0)):
        decision = decide(POLICY, {"tox": {"insult": insult}, "pii": {"email": email}})
        expected = "block" if insult >= 0.8 else "flag" if insult >= 0.5 or email else "allow"
        assert decision.action == expected
        assert len(decision.reasons) == (insult >= 0.5) + (email >= 0.5)


def test_labels_and_checks_without_policy_or_scores_are_ignored():
    assert decide(POLICY, {"tox": {"other": 1.0}, "unknown": {"x": 1.0}}) == ALLOW
    assert decide(POLICY, {}) == ALLOW
    assert decide({}, {"tox": {"insult": 1.0}}) == ALLOW


def test_failures_block_only_when_fail_closed():
    open_failure = CheckFailure("tox", "timeout", "fail_open")
    closed_failure = CheckFailure("pii", "error", "fail_closed")
    assert decide(POLICY, {}, [open_failure]) == ALLOW
    decision = decide(POLICY, {}, [open_failure, closed_failure])
    assert decision.action == "block"
    assert decision.reasons[0].label == "error" and decision.reasons[0].score is None


def test_combine_and_max_scores():
    flag = decide(POLICY, {"pii": {"email": 1.0}})
    block = decide(POLICY, {"tox": {"threat": 0.9}})
    assert combine(ALLOW, flag).action == "flag"
    assert combine(flag, block).action == "block"
    assert len(combine(flag, block).reasons) == 2
    assert combine() == Decision("allow")
    assert combine(flag) is flag
    assert combine(Decision("allow"), Decision("allow")) == ALLOW
    # a decision is its action, with or without reasons (a replayed record has none)
    assert combine(ALLOW, Decision("block")).action == "block"
    assert max_scores([{"a": 0.1, "b": 0.9}, {"a": 0.5}]) == {"a": 0.5, "b": 0.9}


def test_redact_weighs_as_flag_and_is_listed():
    policy = {"pii": {"email": Thresholds(redact=0.5), "card": Thresholds(redact=0.5, block=0.9)}}
    decision = decide(policy, {"pii": {"email": 1.0, "card": 0.6}})
    assert decision.action == "flag"
    assert decision.redactions() == {"pii": {"email", "card"}}
    blocked = decide(policy, {"pii": {"email": 1.0, "card": 0.95}})
    assert blocked.action == "block"
    assert blocked.redactions() == {"pii": {"email"}}
