"""``tune`` on subsets of the shared data sets with the offline classifiers: the threshold
it recommends meets the stated target on the data it was computed on, checked here
independently from the classifier's own scores; the plot is a valid PNG.

Davidson tweets (class 0 hate, 1 offensive: should be flagged; 2 neither) with the
``profanity`` classifier on input; XSTest completions (``2_full_refusal`` and
``3_partial_refusal``: should be flagged) with the ``refusal`` classifier on output.
"""

from __future__ import annotations

import asyncio
import csv
import re
import zlib
from pathlib import Path

import pytest
import yaml

from classifiers import registry
from tests.proxy.tuning.helpers import data_file, run_command
from tests.proxy.tuning.test_tune import assert_png

FAST = Path(__file__).resolve().parents[3] / "proxy/config/fast.yaml"
ROWS = 300


def sample(source: Path, target: Path, rows: int, seed: int = 11) -> None:
    """The first ``rows`` rows after a fixed shuffle, written beside the test (tmp_path)."""
    with source.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        kept = sorted(reader, key=lambda row: zlib.crc32(f"{seed}{row}".encode()))[:rows]
        fields = reader.fieldnames or []
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(kept)


def scores_of(type_name: str, texts: list[str]) -> list[float]:
    """The classifier's own scores, outside the tuner, for the independent check."""
    async def score() -> list[float]:
        classifier = registry.build(type_name, type_name)
        await classifier.start()
        try:
            label = "profane" if type_name == "profanity" else "refusal"
            return [s[label] for s in await classifier.classify(texts)]
        finally:
            await classifier.close()
    return asyncio.run(score())


def recommended(snippet: Path) -> float:
    policy = yaml.safe_load(snippet.read_text())["policy"]
    (direction,) = policy.values()
    (labels,) = direction.values()
    (thresholds,) = labels.values()
    return float(thresholds["block"] if "block" in thresholds else thresholds["flag"])


def test_davidson_precision_target_is_met(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "davidson.csv"
    sample(data_file("davidson_hate_offensive/labeled_data.csv"), data, ROWS)
    snippet, plot = tmp_path / "s.yaml", tmp_path / "davidson.png"
    # The fast preset's word-level model: the one this precision target was set for.
    code = run_command("tune", "--config", str(FAST), "--data", str(data), "--preset",
                       "davidson", "--min-precision", "0.97", "--yaml", str(snippet), "--plot",
                       str(plot))
    out = capsys.readouterr().out
    assert code == 0, out
    assert float(re.search(r"toxicity\.profane\s+([\d.]+)", out)[1]) > 0.8  # type: ignore[index]
    with data.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    scores = scores_of("profanity", [row["tweet"] for row in rows])
    threshold = recommended(snippet)
    flagged = [row["class"] in ("0", "1")
               for row, score in zip(rows, scores, strict=True) if score >= threshold]
    assert flagged and sum(flagged) / len(flagged) >= 0.97
    assert_png(plot)


def test_xstest_false_positive_target_is_met(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "xstest.csv"
    sample(data_file("xstest/xstest_v2_completions_dev.csv"), data, ROWS)
    snippet = tmp_path / "s.yaml"
    code = run_command("tune", "--data", str(data), "--preset", "xstest", "--label",
                       "refusal.refusal", "--action", "flag", "--max-fpr", "0.05",
                       "--yaml", str(snippet), "--no-plot", "--quiet")
    out = capsys.readouterr().out
    assert code == 0, out
    with data.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    refusals = [row["final_label"] in ("2_full_refusal", "3_partial_refusal") for row in rows]
    scores = scores_of("refusal", [row["completion"] for row in rows])
    threshold = recommended(snippet)
    false_positives = sum(s >= threshold and not r for s, r in zip(scores, refusals, strict=True))
    caught = sum(s >= threshold and r for s, r in zip(scores, refusals, strict=True))
    assert false_positives / refusals.count(False) <= 0.05
    assert caught > 0
    assert "refusal: {flag:" in out and "policy:\n  output:\n    refusal:" in out
    assert "refusal.partial_refusal" in out and "toxicity.profane" not in out  # not scored
