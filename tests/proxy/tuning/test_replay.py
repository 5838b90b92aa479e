"""``replay`` on a small hand-checkable file, scored by the scripted classifier.

Triggers: BADWORD bad=1.0, LOWWORD bad=0.3, MEHWORD meh=0.6. The baseline flags bad at
0.25 and blocks at 0.9, and flags meh at 0.5; the new policy flags bad only at 0.9 (no
block) and blocks meh at 0.5. Expected, record by record:

  1 hello                                  allow -> allow   unchanged        ok
  2 MEHWORD here                           flag  -> block   newly blocked    abuse
  3 fine / answer LOWWORD                  flag  -> allow   newly allowed    ok
  4 BADWORD (OpenAI body + completion)     block -> flag    newly flagged    abuse
  5 LOWWORD / answer MEHWORD               flag  -> block   newly blocked    (unlabeled)
  6 event, input text MEHWORD again        flag  -> block   newly blocked    ok
  7 event, recorded scores only, bad=0.3   flag  -> allow   newly allowed    ok
  8 MEHWORD here (same text as 2)          flag  -> block   newly blocked    abuse
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.proxy.tuning.helpers import run_command, scripted_config
from tests.support.scripted import ScriptedClassifier

TRIGGERS = {"BADWORD": {"bad": 1.0}, "LOWWORD": {"bad": 0.3}, "MEHWORD": {"meh": 0.6}}
OLD = {"script": {"bad": {"flag": 0.25, "block": 0.9}, "meh": {"flag": 0.5, "block": 0.9}}}
NEW = {"script": {"bad": {"flag": 0.9}, "meh": {"block": 0.5}}}


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


RECORDS: list[dict[str, Any]] = [
    {"messages": user("hello"), "label": "ok"},
    {"messages": user("MEHWORD here"), "label": "abuse"},
    {"messages": user("fine"), "answer": "LOWWORD", "label": "ok"},
    {"model": "m", "messages": [{"role": "system", "content": "x"},
                                {"role": "user", "content": [{"type": "text",
                                                              "text": "BADWORD"}]}],
     "response": {"choices": [{"index": 0, "message": {"role": "assistant",
                                                        "content": "fine"}}]},
     "label": "abuse"},
    {"messages": user("LOWWORD"), "answer": "MEHWORD"},
    {"id": "1-0", "request_id": "r6", "decision": "block", "label": "ok",
     "text": {"input": ["MEHWORD again"]}, "scores": {"input.script": {"meh": 0.6}}},
    {"id": "2-0", "request_id": "r7", "decision": "flag", "label": "ok",
     "scores": {"input.script": {"bad": 0.3, "meh": 0.0}}},
    {"messages": user("MEHWORD here"), "label": "abuse"},
]
DISTINCT_TEXTS = 11  # input: hello, MEHWORD here, fine, x, BADWORD, LOWWORD, MEHWORD again,
#                      and xBADWORD (two short texts of one request, read joined: views.seams);
#                      output: LOWWORD, fine, MEHWORD


@pytest.fixture
def traffic(tmp_path: Path) -> Path:
    path = tmp_path / "traffic.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in RECORDS))
    return path


@pytest.fixture
def configs(tmp_path: Path) -> tuple[Path, Path]:
    old = scripted_config(tmp_path / "old.yaml", {"input": OLD, "output": OLD}, TRIGGERS)
    new = scripted_config(tmp_path / "new.yaml", {"input": NEW, "output": NEW}, TRIGGERS)
    return old, new


def replay_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert run_command("replay", *argv, "--json", "--quiet") == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


def test_counts_match_the_hand_checked_file(traffic: Path, configs: tuple[Path, Path],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    old, new = configs
    before = len(ScriptedClassifier.instances)
    result = replay_json(capsys, "--data", str(traffic), "--config", str(new),
                         "--baseline", str(old))
    assert result["records"] == 8
    assert result["transitions"] == {"allow->allow": 1, "block->flag": 1,
                                     "flag->allow": 2, "flag->block": 4}
    assert result["changes"] == {"newly block": 4, "newly flag": 1, "newly allow": 2}
    assert result["by_label"] == {
        "(unlabeled)": {"records": 1, "newly block": 1},
        "abuse": {"records": 3, "newly block": 2, "newly flag": 1},
        "ok": {"records": 4, "newly block": 1, "newly allow": 2}}
    assert result["by_reason"] == {"newly allow|script.bad": 2, "newly block|script.meh": 4,
                                   "newly flag|script.bad": 1}
    # one snapshot (same checks), and each distinct text scored once for both policies
    (classifier,) = ScriptedClassifier.instances[before:]
    assert len(classifier.texts_seen) == DISTINCT_TEXTS
    assert classifier.closed


def test_examples_name_the_record_and_what_fired(traffic: Path, configs: tuple[Path, Path],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    old, new = configs
    result = replay_json(capsys, "--data", str(traffic), "--config", str(new),
                         "--baseline", str(old), "--examples", "2")
    blocked = result["examples"]["newly block"]
    assert [e["where"] for e in blocked] == ["traffic.jsonl:2", "traffic.jsonl:5"]
    assert blocked[1] == {"where": "traffic.jsonl:5", "label": None, "before": "flag",
                          "after": "block", "reasons": ["script.meh"],
                          "text": "LOWWORD => MEHWORD"}
    (allowed_event,) = [e for e in result["examples"]["newly allow"] if "r7" in e["where"]]
    assert allowed_event["reasons"] == ["script.bad"] and allowed_event["text"] == (
        "(no texts: decided on its recorded scores)")


def test_text_report(traffic: Path, configs: tuple[Path, Path],
                     capsys: pytest.CaptureFixture[str]) -> None:
    old, new = configs
    assert run_command("replay", "--data", str(traffic), "--config", str(new),
                       "--baseline", str(old), "--quiet") == 0
    out = capsys.readouterr().out
    assert "  flag                   2       0       4" in out
    assert "newly blocked: 4  newly flagged: 1  newly allowed: 2  unchanged: 1" in out
    assert "  abuse                    3              2              1              0" in out
    assert "examples, newly flagged:\n  traffic.jsonl:4 [label abuse]: block -> flag" in out


def test_different_checks_are_scored_for_each_policy(traffic: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    old = scripted_config(tmp_path / "old.yaml", {"input": OLD, "output": OLD},
                          {**TRIGGERS, "hello": {"bad": 1.0}})
    new = scripted_config(tmp_path / "new.yaml", {"input": OLD, "output": OLD}, TRIGGERS)
    before = len(ScriptedClassifier.instances)
    result = replay_json(capsys, "--data", str(traffic), "--config", str(new),
                         "--baseline", str(old))
    assert result["transitions"]["block->allow"] == 1  # only "hello" changes
    assert sum(result["changes"].values()) == 1
    assert [len(c.texts_seen) for c in ScriptedClassifier.instances[before:]] == [
        DISTINCT_TEXTS, DISTINCT_TEXTS]


def test_without_baseline_the_recorded_decisions_are_compared(
        tmp_path: Path, configs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(record) + "\n" for record in RECORDS[5:7]))
    result = replay_json(capsys, "--data", str(events), "--config", str(configs[1]))
    assert result["transitions"] == {"block->block": 1, "flag->allow": 1}


@pytest.mark.parametrize(("lines", "message"), [
    ([RECORDS[0]], "traffic.jsonl:1: no recorded decision to compare with; give the current"),
    (["{oops"], "traffic.jsonl:1: invalid JSON"),
    ([{"prompt": "x"}], "traffic.jsonl:1: neither a chat request"),
    ([{"messages": []}], "traffic.jsonl:1: 'messages' must be a non-empty array"),
    ([{"messages": user("a"), "response": 3}], "the answer must be a string or a chat"),
    ([], "no records"),
])
def test_bad_traffic_fails_clearly(tmp_path: Path, configs: tuple[Path, Path],
                                   lines: list[Any], message: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "traffic.jsonl"
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n"
                            for line in lines))
    assert run_command("replay", "--data", str(path), "--config", str(configs[1])) == 1
    assert message in capsys.readouterr().err


def test_bad_new_config_fails_with_file_and_line(traffic: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump({"upstream": {"base_url": "ftp://x"}}))
    assert run_command("replay", "--data", str(traffic), "--config", str(broken)) == 1
    assert "broken.yaml" in capsys.readouterr().err


async def test_replay_decides_each_event_with_its_tenants_policy(tmp_path):
    import json

    from proxy.config.loader import parse
    from proxy.config.snapshot import build_snapshot
    from proxy.tuning.replay import Side, decide_all
    from proxy.tuning.scoring import Scorer
    from proxy.tuning.traffic import load_records

    raw = b"""\
upstream: {base_url: 'http://127.0.0.1:1/v1'}
checks: [{name: script, type: scripted, options: {labels: [meh], triggers: {MEH: {meh: 0.6}}}}]
policy: {input: {script: {meh: {flag: 0.5}}}}
tenants: {known: {strict: {policy: {input: {script: {meh: {block: 0.55}}}}}}}
"""
    snapshot = await build_snapshot(parse(raw, "p.yaml"))
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps({"request_id": f"r{i}", "tenant": tenant,
                                            "direction": "input", "decision": "flag",
                                            "text": {"input": ["MEH"]}})
                                for i, tenant in enumerate(["strict", "other", None])) + "\n")
    side = Side(snapshot.config, snapshot.checks)
    decisions = await decide_all(side, load_records(events), Scorer())
    assert [d.action for d in decisions] == ["block", "flag", "flag"]
    await snapshot.close()
