"""The strike policy: what one request weighs against its principal (the heaviest of its
reasons); redactions and the model's own refusals weigh nothing by default."""

from __future__ import annotations

import pytest

from proxy.config.state_settings import StrikeWeights
from proxy.state.gate import strike_weight
from proxy.state.ports import Outcome, Principal
from proxy.verdict import Decision, Reason

TOXIC_FLAG = Reason("toxicity", "profane", 0.6, 0.5, "flag")
TOXIC_BLOCK = Reason("toxicity", "profane", 0.9, 0.8, "block")
EMAIL = Reason("rules", "email", 1.0, 0.5, "redact")
REFUSAL = Reason("refusal", "refusal", 0.9, 0.5, "flag")


def outcome(input_reasons=(), output_reasons=()) -> Outcome:
    def decision(reasons):
        actions = {reason.action for reason in reasons}
        action = "block" if "block" in actions else "flag" if actions else "allow"
        return Decision(action, tuple(reasons))
    inputs, outputs = decision(input_reasons), decision(output_reasons)
    return Outcome("r", Principal("p"), None, None, Decision("flag"),
                   {"input": inputs, "output": outputs}, {}, refusal_label="refusal.refusal")


@pytest.mark.parametrize(("inputs", "outputs", "weights", "expected"), [
    ([TOXIC_FLAG], [], {}, 1.0),
    ([TOXIC_BLOCK], [], {}, 3.0),
    ([TOXIC_FLAG, TOXIC_BLOCK], [], {}, 3.0),  # one request, one strike: the heaviest
    ([EMAIL], [], {}, 0.0),  # a user sending their own e-mail address is not abuse
    ([], [REFUSAL], {}, 0.0),  # the model's refusal is the model's doing
    ([TOXIC_FLAG], [REFUSAL], {}, 1.0),
    ([], [REFUSAL], {"refusal": 1.0}, 1.0),  # unless the operator says so
    ([EMAIL], [], {"redact": 0.5}, 0.5),
    ([TOXIC_BLOCK], [], {"checks": {"toxicity": {"block": 10.0}}}, 10.0),
    ([TOXIC_FLAG], [], {"checks": {"toxicity": {"flag": 0.0}}}, 0.0),
    ([], [], {}, 0.0),
])
def test_a_request_weighs_its_heaviest_reason(inputs, outputs, weights, expected):
    assert strike_weight(outcome(inputs, outputs), StrikeWeights(**weights)) == expected


def test_a_refusal_label_on_input_is_not_the_models_refusal():
    on_input = outcome([REFUSAL], [])
    assert strike_weight(on_input, StrikeWeights()) == 1.0
