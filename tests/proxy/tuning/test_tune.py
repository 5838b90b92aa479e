"""``tune`` on hand-checkable data scored by the scripted classifier: the recommendation,
the report, the PNG, the YAML snippets and the candidate config, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from proxy.config.loader import load_file
from proxy.config.snapshot import build_snapshot
from proxy.tuning.analysis import tune
from proxy.tuning.dataset import DataSpec, load_examples
from proxy.tuning.recommend import Target
from proxy.tuning.scoring import Scorer
from tests.proxy.tuning.helpers import run_command, scripted_config
from tests.support.scripted import ScriptedClassifier

TRIGGERS = {"AAA": {"bad": 0.9}, "BBB": {"bad": 0.7}, "CCC": {"bad": 0.4}}
POLICY = {"input": {"script": {"bad": {"flag": 0.65, "block": 0.95}}}}
# 4 should-be-flagged and 6 not; scores 0.9 0.9 0.7 | 0.7 | 0.4 | 0.4 0.4 | 0 0 0.
ROWS = [("AAA one", 1), ("AAA two", 1), ("BBB one", 1), ("BBB two", 0), ("CCC one", 1),
        ("CCC two", 0), ("CCC three", 0), ("hello", 0), ("hi", 0), ("hey", 0)]


@pytest.fixture
def labeled(tmp_path: Path) -> Path:
    path = tmp_path / "labeled.jsonl"
    path.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in ROWS))
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return scripted_config(tmp_path / "live.yaml", POLICY, TRIGGERS)


async def test_recommendation_and_figures_from_scored_examples(labeled: Path,
                                                                config: Path) -> None:
    snapshot = await build_snapshot(load_file(config))
    scorer = Scorer(batch_size=3, show_progress=False)
    try:
        tuning = await tune(snapshot, load_examples(labeled, DataSpec()), "input",
                            Target(min_precision=0.75), "block", (), scorer)
    finally:
        await snapshot.close()
    bad = {r.qualified: r for r in tuning.labels}["script.bad"]
    assert tuning.tuned == ("script.bad",)  # the labels with thresholds in the policy
    assert bad.scores.tolist() == [0.9, 0.9, 0.7, 0.7, 0.4, 0.4, 0.4, 0.0, 0.0, 0.0]
    assert bad.roc_auc == pytest.approx(21.5 / 24)
    # flags the 0.9s and 0.7s (precision 3/4, recall 3/4): mid-way between 0.4 and 0.7
    assert bad.recommended == 0.6
    assert scorer.classified == 10


def test_command_writes_report_plot_snippets_and_candidate(labeled: Path, config: Path,
                                                           tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    plot, snippet, candidate = tmp_path / "t.png", tmp_path / "s.yaml", tmp_path / "new.yaml"
    code = run_command("tune", "--config", str(config), "--data", str(labeled),
                       "--min-precision", "0.75", "--plot", str(plot), "--yaml", str(snippet),
                       "--write-config", str(candidate))
    out, err = capsys.readouterr()
    assert code == 0
    assert "script.bad                   0.896" in out
    assert "0.4     0.571   1.000  0.727  0.500     0.700\n" in out
    assert "0.6     0.750   0.750  0.750  0.167     0.400  <- recommended block" in out
    assert "0.65     0.750   0.750  0.750  0.167     0.400  <- current flag" in out
    assert "scoring input with script [" in err and "10/10" in err
    # flag (0.65) would exceed the new block (0.6): it moves down with it
    assert yaml.safe_load(snippet.read_text()) == {
        "policy": {"input": {"script": {"bad": {"flag": 0.6, "block": 0.6}}}}}
    assert "shadow_policy:\n  input:\n    script:\n      bad:\n        flag: 0.6" in out
    new = load_file(candidate).config
    assert new.policy.input["script"]["bad"].block == 0.6
    assert new.checks == load_file(config).config.checks
    assert_png(plot)


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = pytest.importorskip("matplotlib.pyplot").imread(path)
    assert image.shape[0] > 200 and image.shape[1] > 400


def test_labeled_review_stream_export(tmp_path: Path, config: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Events as ``events export`` writes them, labeled by a reviewer: with texts they are
    scored afresh, without (``events.text: off``) their recorded scores are used."""
    def event(label: str, text: str | None = None, bad: float | None = None) -> str:
        row: dict[str, object] = {"id": "1-0", "request_id": "r", "decision": "flag",
                                  "label": label, "scores": {}}
        if text is not None:
            row["text"] = {"input": [text]}
        if bad is not None:
            row["scores"] = {"input.script": {"bad": bad, "meh": 0.0}}
        return json.dumps(row) + "\n"
    export = tmp_path / "export.jsonl"
    export.write_text(event("abuse", text="AAA x") + event("abuse", bad=0.7) +
                      event("ok", bad=0.7) + event("ok", bad=0.4) + event("ok", text="hello"))
    code = run_command("tune", "--config", str(config), "--data", str(export), "--no-plot",
                       "--positive", "abuse", "--min-precision", "0.6", "--quiet")
    out = capsys.readouterr().out
    assert code == 0
    assert "3 examples use the scores recorded in their events" in out
    # 0.9 abuse | 0.7 abuse, 0.7 ok | 0.4 ok | 0 ok: precision 2/3 from 0.7, mid-gap 0.6
    assert "recommended block threshold 0.6: precision 0.667, recall 1.000" in out


def test_flag_action_and_fpr_target(labeled: Path, config: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    code = run_command("tune", "--config", str(config), "--data", str(labeled), "--no-plot",
                       "--max-fpr", "0", "--action", "flag", "--quiet")
    out = capsys.readouterr().out
    assert code == 0
    assert "bad: {flag: 0.8, block: 0.95}" in out  # only the 0.9s: no false positive


def test_unmet_target_exits_3_and_suggests_nothing(labeled: Path, config: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code = run_command("tune", "--config", str(config), "--data", str(labeled), "--no-plot",
                       "--positive", "0", "--min-precision", "0.99", "--quiet")
    out = capsys.readouterr().out
    assert code == 3
    assert "no threshold meets precision >= 0.99 for script.bad" in out
    assert "paste into the config" not in out


@pytest.mark.parametrize(("extra", "message"), [
    (("--label", "script.nope"), "unknown label 'script.nope'"),
    (("--text-column", "body"), "labeled.jsonl:1: no column 'body'"),
    (("--direction", "output", "--label", "script.meh"), None),  # valid: output runs too
])
def test_bad_options_fail_clearly(labeled: Path, config: Path, extra: tuple[str, ...],
                                  message: str | None,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    code = run_command("tune", "--config", str(config), "--data", str(labeled), "--no-plot",
                       "--quiet", *extra)
    err = capsys.readouterr().err
    if message is None:
        assert code in (0, 3) and not err
    else:
        assert code == 1 and message in err


def test_failing_classifier_aborts_with_its_name(labeled: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    config = scripted_config(tmp_path / "c.yaml", POLICY, TRIGGERS)
    data = yaml.safe_load(config.read_text())
    data["checks"][0]["options"]["fail"] = "raise"
    config.write_text(yaml.safe_dump(data))
    before = len(ScriptedClassifier.instances)
    code = run_command("tune", "--config", str(config), "--data", str(labeled), "--no-plot")
    assert code == 1
    assert "check 'script' failed: RuntimeError: scripted failure" in capsys.readouterr().err
    assert all(c.closed for c in ScriptedClassifier.instances[before:])


def test_write_config_needs_a_config_file(labeled: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code = run_command("tune", "--data", str(labeled), "--write-config", str(tmp_path / "x"))
    assert code == 1 and "--write-config needs --config" in capsys.readouterr().err


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--min-precision", "1.5", "1.5 is not between 0 and 1"),
    ("--limit", "0", "0 is not a positive whole number"),
    ("--positive", " , ", "give at least one label value"),
])
def test_bad_option_values_are_refused_by_the_parser(labeled: Path, option: str, value: str,
                                                     message: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_command("tune", "--data", str(labeled), option, value)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
