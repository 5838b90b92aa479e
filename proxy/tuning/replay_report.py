"""``replay``'s printed report (and the same figures as JSON): the transition table,
counts of newly blocked / flagged / allowed overall, per review label and per reason,
and up to N examples of each."""

from __future__ import annotations

from typing import Any

from proxy.tuning.replay import Change, Replay

ACTIONS = ("allow", "flag", "block")
CATEGORIES = ("newly block", "newly flag", "newly allow")
_SHOWN_CHARS = 100
_CORNER = "baseline \\ new"


def format_replay(replay: Replay, baseline: str, new: str, examples: int) -> str:
    changes = replay.changes()
    counts = {category: sum(c.category == category for c in changes) for category in CATEGORIES}
    lines = [f"replayed {len(replay.records)} records: {baseline} -> {new}", "",
             f"  {_CORNER:<16}" + "".join(f"{a:>8}" for a in ACTIONS)]
    transitions = replay.transitions()
    lines += [f"  {b:<16}" + "".join(f"{transitions[(b, a)]:>8}" for a in ACTIONS)
              for b in ACTIONS]
    lines += ["", "  ".join(f"{_title(c)}: {n}" for c, n in counts.items())
              + f"  unchanged: {len(replay.records) - len(changes)}"]
    lines += ["", f"{'by label':<20}{'records':>8}" + "".join(f"{_title(c):>15}"
                                                           for c in CATEGORIES)]
    lines += [f"  {label:<18}{row['records']:>8}" + "".join(f"{row[c]:>15}" for c in CATEGORIES)
              for label, row in replay.by_label().items()]
    reasons = replay.by_reason()
    if reasons:
        lines += ["", "by reason (check.label)"]
        lines += [f"  {_title(category):<15} {reason:<28} {count}"
                  for (category, reason), count in sorted(reasons.items())]
    for category in CATEGORIES:
        shown = [c for c in changes if c.category == category][:examples]
        if shown:
            lines += ["", f"examples, {_title(category)}:"] + [_example(c) for c in shown]
    return "\n".join(lines)


def replay_json(replay: Replay, examples: int) -> dict[str, Any]:
    changes = replay.changes()
    return {
        "records": len(replay.records),
        "transitions": {f"{b}->{a}": n for (b, a), n in sorted(replay.transitions().items())},
        "changes": {c: sum(x.category == c for x in changes) for c in CATEGORIES},
        "by_label": {label: dict(row) for label, row in replay.by_label().items()},
        "by_reason": {f"{c}|{r}": n for (c, r), n in sorted(replay.by_reason().items())},
        "examples": {c: [_example_json(x) for x in changes if x.category == c][:examples]
                     for c in CATEGORIES},
    }


def _example(change: Change) -> str:
    record = change.record
    label = f" [label {record.label}]" if record.label is not None else ""
    reasons = ", ".join(change.reasons()) or "-"
    return (f"  {record.where}{label}: {change.before.action} -> {change.after.action} "
            f"({reasons})  {_shown(change)!r}")


def _example_json(change: Change) -> dict[str, Any]:
    return {"where": change.record.where, "label": change.record.label,
            "before": change.before.action, "after": change.after.action,
            "reasons": change.reasons(), "text": _shown(change)}


def _shown(change: Change) -> str:
    """The last input text, and the answer's first text when there is one."""
    texts = change.record.texts
    shown = [_cut(direction_texts[index]) for direction_texts, index
             in ((texts.get("input", ()), -1), (texts.get("output", ()), 0)) if direction_texts]
    return " => ".join(shown) or "(no texts: decided on its recorded scores)"


def _cut(text: str) -> str:
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…"


def _title(category: str) -> str:
    return {"newly block": "newly blocked", "newly flag": "newly flagged",
            "newly allow": "newly allowed"}[category]
