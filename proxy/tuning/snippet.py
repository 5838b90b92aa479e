"""What ``tune`` hands the operator to act on: the YAML block to paste into ``policy``, the
same change as a complete ``shadow_policy`` (to watch it on live traffic first), and a
candidate config file for ``replay``. The other action's threshold is kept from the
current config, moved only where needed to keep flag <= block."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from proxy.config.schema import ThresholdPolicy
from proxy.tuning.analysis import LabelResult, Tuning

Changed = dict[tuple[str, str], dict[str, float]]  # (check, label) -> thresholds set


def changed_thresholds(tuning: Tuning) -> Changed:
    return {(r.check, r.label): _thresholds(tuning, r)[0] for r in _recommended(tuning)}


def policy_snippet(tuning: Tuning, source: str) -> str:
    """Only labels with a recommendation appear; an empty string when there are none."""
    results = _recommended(tuning)
    if not results:
        return ""
    lines = [f"# safety-proxy tune: {tuning.action} thresholds for "
             f"{tuning.target.describe()} on {source} ({len(tuning.positive)} examples)",
             "policy:", f"  {tuning.direction}:"]
    for check in dict.fromkeys(result.check for result in results):
        lines.append(f"    {check}:")
        for result in (r for r in results if r.check == check):
            thresholds, note = _thresholds(tuning, result)
            shown = ", ".join(f"{action}: {value:g}" for action, value in thresholds.items())
            lines.append(f"      {result.label}: {{{shown}}}{note}")
    return "\n".join(lines) + "\n"


def shadow_snippet(policy: ThresholdPolicy, tuning: Tuning) -> str:
    """The whole threshold policy with the tuned labels changed (a shadow policy replaces
    the live thresholds as a whole, it is not merged with them)."""
    thresholds = {"input": _plain(policy.input), "output": _plain(policy.output)}
    _apply(thresholds, tuning)
    return yaml.safe_dump({"shadow_policy": thresholds}, sort_keys=False)


def candidate_config(config: dict[str, Any], tuning: Tuning) -> dict[str, Any]:
    """A copy of a config file's data with the tuned thresholds set in ``policy``."""
    candidate = copy.deepcopy(config)
    _apply(candidate.setdefault("policy", {}), tuning)
    return candidate


def _apply(policy: dict[str, Any], tuning: Tuning) -> None:
    direction = policy.setdefault(tuning.direction, {})
    for (check, label), thresholds in changed_thresholds(tuning).items():
        direction.setdefault(check, {})[label] = dict(thresholds)


def _plain(direction: dict[str, Any]) -> dict[str, Any]:
    return {check: {label: t.model_dump(exclude_none=True) for label, t in labels.items()}
            for check, labels in direction.items()}


def _recommended(tuning: Tuning) -> list[LabelResult]:
    return [r for r in tuning.tuned_results() if r.recommended is not None]


def _thresholds(tuning: Tuning, result: LabelResult) -> tuple[dict[str, float], str]:
    assert result.recommended is not None
    current = result.current.model_dump(exclude_none=True)
    thresholds = {**current, tuning.action: result.recommended}
    other = "flag" if tuning.action == "block" else "block"
    note = ""
    if other in thresholds and (thresholds["flag"] > thresholds["block"]):
        thresholds[other] = result.recommended
        note = f"  # {other} moved from {current[other]:g} to keep flag <= block"
    return thresholds, note
