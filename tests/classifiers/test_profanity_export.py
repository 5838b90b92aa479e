"""The export script and the NumPy evaluator beyond the shipped model's settings: small
models fitted here with other vectorizer settings (n-grams, accents, sublinear or binary
tf, l1 or no norm, no idf, another token pattern) score as scikit-learn does, and settings
the evaluator cannot reproduce are refused at export with a clear error.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from classifiers.profanity_model import CalibratedLinearTfidf

sklearn = pytest.importorskip("sklearn", reason="scikit-learn (the dev extra) is absent")
pytest.importorskip("profanity_check", reason="alt-profanity-check (the dev extra) is absent")

from sklearn.calibration import CalibratedClassifierCV  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402

from classifiers.profanity_model.export import export, write  # noqa: E402

SOURCE = {"package": "alt-profanity-check", "version": "test", "url": "", "scikit_learn": "",
          "sha256": {}}
RUDE = ["you are a stupid idiot", "shut up you dumb bitch", "Fuck off, loser!!",
        "what a worthless piece of shit", "go to hell, moron", "STUPID STUPID idiot"]
KIND = ["have a lovely day", "the weather is mild today", "thanks for your help, friend",
        "Café au lait at the résumé workshop", "see you at the meeting", "a nice cup of tea"]
HELD_OUT = ["", "stupid", "you are lovely", "Stupid Idiot friend", "résumé of a moron",
            "re\u0301sume\u0301 cafe\u0301", "the a an of", "!!!", "idiot idiot idiot idiot",
            "thanks_friend 42 tea", "Привет idiot", "have a stupid day you idiot"]


def svc() -> LinearSVC:
    """Seeded (liblinear otherwise shuffles with NumPy's global state, which other tests
    move) and with room to converge on these few unnormalised features: a
    ConvergenceWarning fails the suite."""
    return LinearSVC(random_state=0, max_iter=10_000)


def fitted(**settings: Any) -> tuple[Any, Any]:
    texts = (RUDE + KIND) * 3
    labels = ([1] * len(RUDE) + [0] * len(KIND)) * 3
    vectorizer = TfidfVectorizer(**settings)
    features = vectorizer.fit_transform(texts)
    calibrated = CalibratedClassifierCV(svc(), cv=3, method="sigmoid")
    return vectorizer, calibrated.fit(features, labels)


@pytest.mark.parametrize("settings", [
    {},
    {"ngram_range": (1, 2), "strip_accents": "unicode", "sublinear_tf": True,
     "stop_words": "english"},
    {"ngram_range": (2, 3), "strip_accents": "ascii", "lowercase": False, "binary": True,
     "norm": "l1", "use_idf": False, "stop_words": ["the", "a", "you"]},
    {"norm": None, "token_pattern": r"(?u)\b(\w+)\b", "smooth_idf": False,
     "ngram_range": (1, 3)},
], ids=["defaults", "bigrams-unicode-sublinear", "2-3grams-ascii-binary-l1-noidf",
        "nonorm-groupedpattern-1-3grams"])
def test_exported_model_scores_as_sklearn(settings: dict[str, Any], tmp_path: Path) -> None:
    vectorizer, calibrated = fitted(**settings)
    write(export(vectorizer, calibrated, SOURCE), tmp_path)
    model = CalibratedLinearTfidf.load(tmp_path)  # through the files, as at run time
    texts = HELD_OUT + RUDE + KIND
    analyze = vectorizer.build_analyzer()
    assert [t for t in texts if analyze(t) != model.analyzer(t)] == []
    expected = calibrated.predict_proba(vectorizer.transform(texts))[:, 1]
    assert np.abs(model.predict_proba(texts) - expected).max() <= 1e-12
    assert len(set(expected.round(6))) > 5  # the texts do not all score alike


@pytest.mark.parametrize(("vectorizer_settings", "calibration", "error"), [
    ({"analyzer": "char"}, "sigmoid", "only analyzer='word'"),
    ({"tokenizer": str.split, "token_pattern": None}, "sigmoid", "without custom callables"),
    ({"strip_accents": lambda text: text}, "sigmoid", "strip_accents=<function"),
    ({"dtype": np.float32}, "sigmoid", "only float64"),
    ({}, "isotonic", "only a binary sigmoid calibration"),
])
def test_export_refuses_what_the_evaluator_cannot_reproduce(
        vectorizer_settings: dict[str, Any], calibration: str, error: str) -> None:
    vectorizer = TfidfVectorizer(**vectorizer_settings)
    features = vectorizer.fit_transform((RUDE + KIND) * 3)
    calibrated = CalibratedClassifierCV(svc(), cv=3, method=calibration).fit(
        features, ([1] * len(RUDE) + [0] * len(KIND)) * 3)
    with pytest.raises(ValueError, match=re.escape(error)):
        export(vectorizer, calibrated, SOURCE)
