"""The review-stream entry for one flagged or blocked request.

Fields are flat strings (a Redis stream entry); structured ones are JSON. The principal
(and the end user it named) is a keyed hash, ``key_id`` the client key's public id; texts
are stored only as ``events.text`` says (off, truncated, full). The store adds ``strikes``
and ``escalation``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from proxy.config.state_settings import EventsConfig
from proxy.state.ports import Outcome


def event_fields(outcome: Outcome, config: EventsConfig, now_ms: int) -> dict[str, str]:
    flagged = [direction for direction, decision in outcome.directions.items()
               if decision.action != "allow"]
    fields = {
        "time": datetime.fromtimestamp(now_ms / 1000, UTC).isoformat(timespec="milliseconds"),
        "request_id": outcome.request_id,
        "principal": outcome.principal.key_hash or "",
        "principal_source": outcome.principal.source,
        "user": (outcome.user.key_hash or "") if outcome.user else "",
        "key_id": outcome.key_id or "",
        "tenant": outcome.tenant or "",
        "model": outcome.model or "",
        "direction": ",".join(flagged),
        "decision": outcome.decision.action,
        "reasons": _json([reason.as_dict() for reason in outcome.decision.reasons]),
        "scores": _json(outcome.scores),
    }
    if config.text != "off":
        fields["text"] = _json({direction: [config.kept(text) for text in texts]
                                for direction, texts in outcome.texts.items()})
    return fields


def _json(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def event_json(event_id: str, fields: dict[str, str]) -> dict[str, object]:
    """An event as a JSON object (admin API, CLI): JSON fields decoded."""
    shown: dict[str, object] = {"id": event_id}
    for name, value in fields.items():
        shown[name] = _decoded(value) if name in ("reasons", "scores", "text") else value
    return shown


def _decoded(value: str) -> object:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
