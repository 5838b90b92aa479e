"""The exported alt-profanity-check model evaluated in NumPy: the same scores as the
scikit-learn pipeline it was exported from, package data that cannot go stale, and a run
time that never imports scikit-learn, SciPy or joblib.

Tolerance: both sides compute float64 tf-idf values, norms and dot products over the same
terms in the same order; only ``exp`` may differ (the C library's here, SciPy's in
``expit``: an ulp or so, shrunk further by the sigmoid's slope below 1). 1e-12 leaves
room for a few ulp and still catches any wrong feature, count, idf or weight (the smallest
such change moves a score by far more). Measured: 0.0 over the 32,239 corpus texts, in a
batch (NumPy arrays) and one by one (Python floats).
"""

from __future__ import annotations

import csv
import json
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from classifiers.profanity_model import CalibratedLinearTfidf, packaged_data
from classifiers.profanity_model.analyzer import EQUIVALENT_PATTERNS
from classifiers.profanity_model.model import ARRAYS, SCALAR_BATCH, read_vocabulary

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared/data"
TOLERANCE = 1e-12

EDGE_CASES = [
    "", "!!!?!...,;:", " \t\n\r ", "a", "I", "the and of but",  # nothing or stop words only
    "FUCK YOU IDIOT", "fuck you idiot", "FuCk YoU iDiOt", "fuck\tyou\nidiot\r\nshit",
    "fuck_you idiot_2 2fuck fuck2 12 345 6789", "__init__ ____ __",  # \w: _ and digits
    "Привет, ты идиот", "日本語のテキストです 連絡 見学", "مرحبا بالعالم", "ውይይት",
    "Pokémon josé beyoncé", "Poke\u0301mon jose\u0301 beyonce\u0301",  # composed/combining
    "café cafe\u0301 naïve fu\u0308ck", "İSTANBUL istanbul STRASSE straße ﬁne",
    "ｆｕｃｋ ｙｏｕ", "f\u200buck sh\u00adit", "\x00fuck\x00", "🖕🖕 fuck 💩 you 🤬",
    "zzqxv qwrtplk vbnmzx", "shit " * 20_000, "x" * 100_000 + " idiot",
    "\ud800 lone surrogate idiot",
]


def corpus() -> list[str]:
    """Davidson's tweets and HateCheck's cases: about 32k texts full of unicode and emoji."""
    csv.field_size_limit(1 << 27)
    texts: list[str] = []
    for path, column in [(DATA / "davidson_hate_offensive/labeled_data.csv", "tweet"),
                         *((p, "test_case") for p in sorted((DATA / "hatecheck").glob("*.csv")))]:
        with path.open(encoding="utf-8", newline="") as file:
            texts.extend(row[column] for row in csv.DictReader(file))
    return texts


@pytest.fixture(scope="module")
def sklearn_source() -> tuple[Any, Any, dict[str, Any]]:
    """The installed alt-profanity-check pair (vectorizer, calibrated) and its provenance."""
    for module in ("sklearn", "joblib", "profanity_check"):
        pytest.importorskip(module, reason="the original pipeline (the dev extra) is absent")
    from classifiers.profanity_model.export import load_source

    return load_source()


@pytest.fixture(scope="module")
def model() -> CalibratedLinearTfidf:
    return CalibratedLinearTfidf.load(packaged_data())


def sklearn_scores(source: tuple[Any, Any, Any], texts: list[str]) -> np.ndarray:
    vectorizer, calibrated, _ = source
    scores: np.ndarray = calibrated.predict_proba(vectorizer.transform(texts))[:, 1]
    return scores


@pytest.mark.skipif(not (DATA / "davidson_hate_offensive").is_dir()
                    or not (DATA / "hatecheck").is_dir(),
                    reason="the corpus (../shared/data: Davidson, HateCheck) is absent")
def test_scores_and_features_equal_sklearn_on_real_corpus(sklearn_source, model) -> None:
    texts = corpus()
    assert len(texts) > 30_000
    analyze = sklearn_source[0].build_analyzer()
    assert [t for t in texts if analyze(t) != model.analyzer(t)] == []
    expected = sklearn_scores(sklearn_source, texts)
    assert np.abs(model.predict_proba(texts) - expected).max() <= TOLERANCE  # NumPy arrays
    one_by_one = np.array([model.predict_proba([text])[0] for text in texts])  # Python floats
    assert np.abs(one_by_one - expected).max() <= TOLERANCE
    assert 0.2 < (expected > 0.5).mean() < 0.9  # a varied corpus: both classes present


def test_edge_cases_equal_sklearn(sklearn_source, model) -> None:
    analyze = sklearn_source[0].build_analyzer()
    assert [t[:40] for t in EDGE_CASES if analyze(t) != model.analyzer(t)] == []
    difference = np.abs(model.predict_proba(EDGE_CASES) - sklearn_scores(sklearn_source,
                                                                         EDGE_CASES))
    assert difference.max() <= TOLERANCE


def test_a_text_scores_the_same_alone_or_in_any_batch(model) -> None:
    """Alone or in a few, a text is scored in Python floats; in a batch, in NumPy arrays
    (SCALAR_BATCH): the same operations in the same order, bit for bit."""
    assert len(EDGE_CASES) > SCALAR_BATCH
    batch = model.predict_proba(EDGE_CASES)
    alone = np.array([model.predict_proba([text])[0] for text in EDGE_CASES])
    assert np.array_equal(batch, alone)
    assert np.array_equal(model.predict_proba(EDGE_CASES[::-1]), batch[::-1])
    assert model.predict_proba([]).shape == (0,)
    few = [model.predict_proba(EDGE_CASES[i:i + SCALAR_BATCH])
           for i in range(0, len(EDGE_CASES), SCALAR_BATCH)]
    assert np.array_equal(np.concatenate(few), batch)


def test_out_of_vocabulary_text_scores_from_the_bias_alone(model) -> None:
    text = "zzqxv qwrtplk vbnmzx the and"  # unknown words and stop words only
    assert all(feature not in model.vocabulary for feature in model.analyzer(text))
    from_bias = np.mean(1.0 / (1.0 + np.exp(model.slope * model.bias + model.offset)))
    assert model.predict_proba([text, ""]).tolist() == pytest.approx([from_bias] * 2, abs=1e-15)


def test_the_stop_word_pass_is_skipped_only_where_it_changes_no_count(model) -> None:
    """The packaged model's features are single words and no stop word is a term: the
    vocabulary lookup drops stop words anyway, so its tokens are looked up as they come.
    A model where a stop word is a term keeps the analyzer's pass."""
    assert model._features == model.analyzer.tokens
    text = "the idiot and THE idiot"
    assert model.count_columns(text) == {model.vocabulary["idiot"]: 2}
    settings = json.loads((packaged_data() / "settings.json").read_text(encoding="utf-8"))
    folds = len(model.bias)
    odd = CalibratedLinearTfidf.build(settings, ["idiot", "the"], {
        "idf": np.ones(2), "weights": np.ones((2, folds)),
        **{name: np.zeros(folds) for name in ("bias", "slope", "offset")}})
    assert odd._features == odd.analyzer
    assert odd.count_columns(text) == {0: 2}, "'the' is a stop word: never counted"


def test_case_whitespace_and_word_characters(model) -> None:
    upper, lower, spaced, joined = model.predict_proba(
        ["FUCK YOU IDIOT", "fuck you idiot", "fuck\t you\n\nidiot", "fuck_you_idiot"])
    assert upper == lower == spaced > 0.9  # lowercased; whitespace only separates tokens
    assert "fuck_you_idiot" not in model.vocabulary  # one \w token, out of the vocabulary
    assert joined == model.predict_proba([""])[0]


def test_packaged_data_matches_a_fresh_export(sklearn_source, tmp_path: Path) -> None:
    from classifiers.profanity_model.export import export, write

    fresh = export(*sklearn_source)
    write(fresh, tmp_path)
    data = packaged_data()
    for name in ("settings.json", "vocabulary.txt", "LICENSE"):  # text: byte for byte
        assert (data / name).read_bytes() == (tmp_path / name).read_bytes(), name
    with (data / "weights.npz").open("rb") as file, np.load(file) as npz:  # zlib may vary
        assert sorted(npz.files) == sorted(ARRAYS) == sorted(fresh.arrays)
        for name in ARRAYS:
            assert npz[name].dtype == np.float64 and np.array_equal(npz[name], fresh.arrays[name])
    assert read_vocabulary((data / "vocabulary.txt").read_text(encoding="utf-8")) == fresh.terms
    assert "MIT License" in fresh.notice and "Victor Zhou" in fresh.notice


def test_scoring_imports_no_sklearn_scipy_or_joblib() -> None:
    script = """
import asyncio, sys
from classifiers.profanity import ProfanityClassifier

async def main():
    classifier = ProfanityClassifier("tox")
    await classifier.start()
    try:
        return await classifier.classify(["you are a fucking idiot", "have a nice day"])
    finally:
        await classifier.close()

scores = asyncio.run(main())
heavy = sorted(m for m in sys.modules
               if m.split(".")[0] in {"sklearn", "scipy", "joblib", "profanity_check"})
print(scores[0]["profane"] > 0.9 > scores[1]["profane"], heavy)
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True []"


def test_loading_refuses_files_that_disagree(model) -> None:
    data = packaged_data()
    settings = json.loads((data / "settings.json").read_text(encoding="utf-8"))
    arrays = {name: getattr(model, name) for name in ARRAYS}
    terms = sorted(model.vocabulary, key=model.vocabulary.__getitem__)
    with pytest.raises(ValueError, match=f"{len(terms) - 1} terms but array shapes"):
        CalibratedLinearTfidf.build(settings, terms[:-1], arrays)
    with pytest.raises(ValueError, match=r"'bias': \(4,\)"):
        CalibratedLinearTfidf.build(settings, terms, {**arrays, "bias": arrays["bias"][:4]})
    settings["tfidf"]["norm"] = "max"
    with pytest.raises(ValueError, match="unsupported tf-idf norm 'max'"):
        CalibratedLinearTfidf.build(settings, terms, arrays)
    settings["tfidf"]["norm"] = "l2"
    rebuilt = CalibratedLinearTfidf.build(settings, terms, arrays)
    assert np.array_equal(rebuilt.predict_proba(EDGE_CASES), model.predict_proba(EDGE_CASES))


def test_equivalent_token_patterns_find_the_same_tokens(model) -> None:
    """The analyzer compiles sklearn's default token pattern as its faster equivalent
    (analyzer.EQUIVALENT_PATTERNS): findall reads the same tokens on 30,000 texts drawn
    from word characters of several scripts, digits, _, combining marks, spaces and signs."""
    assert model.analyzer.token_pattern.pattern == EQUIVALENT_PATTERNS[r"(?u)\b\w\w+\b"]
    rng = random.Random(5)
    alphabet = "ab zZé_09٣\u0301\u200b-'.!\t\nжя日本ⅷ²"
    for original, faster in EQUIVALENT_PATTERNS.items():
        slow, fast = re.compile(original), re.compile(faster)
        for _ in range(30_000):
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
            assert fast.findall(text) == slow.findall(text), repr(text)
