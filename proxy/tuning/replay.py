"""``replay``'s computation: recorded traffic decided by a baseline and a new policy.

Each record is decided as the proxy would: per direction, the highest score per label
over its texts against that direction's policy, then the strongest action of the two
directions. Texts are scored once per distinct text and check (the Scorer's cache), so a
baseline with the same checks costs no second scoring. Without a baseline config, the
baseline is the decision recorded in each event (``decision``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from classifiers.base import Direction
from proxy.config.schema import DirectionPolicy, ProxyConfig
from proxy.config.snapshot import Check, effective_policy
from proxy.pipeline.decision import combine, decide
from proxy.pipeline.views import Windowing
from proxy.tuning.dataset import DataError
from proxy.tuning.scoring import Scorer, Unit
from proxy.tuning.traffic import DIRECTIONS, Record
from proxy.verdict import ALLOW, Decision

UNLABELED = "(unlabeled)"


@dataclass(frozen=True, slots=True)
class Side:
    """One policy to replay: its config and the checks that score for it."""

    config: ProxyConfig
    checks: tuple[Check, ...]

    def checks_for(self, direction: Direction) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if direction in check.config.directions)

    def policy(self, direction: Direction, record: Record) -> DirectionPolicy:
        """The thresholds the record's tenant was (or would be) decided with."""
        return effective_policy(self.config, direction, record.tenant)


@dataclass(frozen=True, slots=True)
class Change:
    record: Record
    before: Decision
    after: Decision

    @property
    def category(self) -> str:
        """Changes are named by the new action: newly block / flag / allow."""
        return f"newly {self.after.action}"

    def reasons(self) -> list[str]:
        """What now fires (block, flag), or what no longer fires (allow)."""
        source = self.before if self.after.action == "allow" else self.after
        return [f"{r.classifier}.{r.label}" for r in source.reasons
                if r.action == source.action]


@dataclass(frozen=True, slots=True)
class Replay:
    records: tuple[Record, ...]
    before: tuple[Decision, ...]
    after: tuple[Decision, ...]

    def transitions(self) -> Counter[tuple[str, str]]:
        return Counter((b.action, a.action) for b, a in zip(self.before, self.after, strict=True))

    def changes(self) -> list[Change]:
        return [Change(record, before, after) for record, before, after
                in zip(self.records, self.before, self.after, strict=True)
                if before.action != after.action]

    def by_label(self) -> dict[str, Counter[str]]:
        """review label -> "records" and each change category -> count."""
        table: dict[str, Counter[str]] = {}
        for record in self.records:
            table.setdefault(record.label or UNLABELED, Counter())["records"] += 1
        for change in self.changes():
            table[change.record.label or UNLABELED][change.category] += 1
        return dict(sorted(table.items()))

    def by_reason(self) -> Counter[tuple[str, str]]:
        return Counter((change.category, reason) for change in self.changes()
                       for reason in change.reasons())


async def replay(records: Sequence[Record], new: Side, baseline: Side | None,
                 scorer: Scorer) -> Replay:
    after = await decide_all(new, records, scorer)
    if baseline is not None:
        before = await decide_all(baseline, records, scorer)
    else:
        before = [_recorded(record) for record in records]
    return Replay(tuple(records), tuple(before), tuple(after))


async def decide_all(side: Side, records: Sequence[Record], scorer: Scorer) -> list[Decision]:
    decisions: list[list[Decision]] = [[] for _ in records]
    for direction in DIRECTIONS:
        scored = [(i, texts) for i, record in enumerate(records)
                  if (texts := tuple(t for t in record.texts.get(direction, ()) if t.strip()))]
        units = [Unit(texts, records[i].prompt) for i, texts in scored]
        results = await scorer.score(side.checks_for(direction), direction, units,
                                     Windowing.of(side.config))
        for (i, _), scores in zip(scored, results, strict=True):
            decisions[i].append(decide(side.policy(direction, records[i]), scores))
        rescored = {i for i, _ in scored}
        for i, record in enumerate(records):
            if i not in rescored and direction in record.recorded:
                decisions[i].append(decide(side.policy(direction, record),
                                           record.recorded[direction]))
    return [combine(*each) if each else ALLOW for each in decisions]


def _recorded(record: Record) -> Decision:
    if record.decision is None:
        raise DataError(f"{record.where}: no recorded decision to compare with; "
                        "give the current config as --baseline")
    return Decision(record.decision)  # type: ignore[arg-type]
