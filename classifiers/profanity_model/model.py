"""A TF-IDF + calibrated linear model evaluated without scikit-learn (in NumPy arrays, or
in Python floats for a few texts), from the exported package data.

Contract: ``CalibratedLinearTfidf.predict_proba(texts)`` equals scikit-learn's
``calibrated.predict_proba(vectorizer.transform(texts))[:, 1]`` for the exported pair (a
``TfidfVectorizer`` and a binary ``CalibratedClassifierCV(method="sigmoid")`` over a linear
estimator): the same features, counts and tf-idf values, and every sum taken over the same
terms in the same order (a row's terms by ascending column, as sklearn's sorted CSR rows),
so the only difference left is ``exp`` (the C library's here, SciPy's own in ``expit``):
an ulp or so, and none on the corpus the tests score. Read-only after loading, so
``predict_proba`` is thread-safe.

Files (written by :mod:`classifiers.profanity_model.export`): ``settings.json`` (the
analyzer's and the tf-idf step's settings), ``vocabulary.txt`` (one term per line, line
``i`` is column ``i``) and ``weights.npz`` (``idf`` (terms,), ``weights`` (terms, folds),
``bias``, ``slope``, ``offset`` (folds,)).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import numpy as np

from classifiers.profanity_model.analyzer import WordAnalyzer

ARRAYS = ("idf", "weights", "bias", "slope", "offset")
# Up to this many texts are scored in Python floats, more in NumPy arrays: NumPy's fixed
# cost per call (~25 us) is most of a short text's score, its cost per text is lower; on
# tweets the two cost the same at 4 texts (bench/profanity.py's sizes, on 2 cores).
SCALAR_BATCH = 3


def packaged_data() -> Traversable:
    """The exported alt-profanity-check model shipped in this package."""
    return resources.files("classifiers.profanity_model") / "data"


def read_vocabulary(text: str) -> list[str]:
    return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")


@dataclass(frozen=True, slots=True)
class SparseRows:
    """Nonzero tf-idf entries of a batch, sorted by (row, column) as a CSR matrix's data."""

    rows: np.ndarray
    columns: np.ndarray
    values: np.ndarray


@dataclass(frozen=True, slots=True, eq=False)
class CalibratedLinearTfidf:
    analyzer: WordAnalyzer
    vocabulary: Mapping[str, int]
    idf: np.ndarray       # (terms,); ones when the vectorizer had use_idf=False
    weights: np.ndarray   # (terms, folds): each fold's coef_
    bias: np.ndarray      # (folds,): each fold's intercept_
    slope: np.ndarray     # (folds,): each fold's sigmoid a_
    offset: np.ndarray    # (folds,): each fold's sigmoid b_
    binary: bool
    sublinear_tf: bool
    norm: str | None
    # The arrays as Python floats (read by ``probability``): idf per term, each fold's
    # weights per term, and each fold's (intercept, slope, offset).
    _idf: list[float] = field(init=False, repr=False)
    _fold_weights: list[list[float]] = field(init=False, repr=False)
    _calibration: list[tuple[float, float, float]] = field(init=False, repr=False)
    # What the vocabulary is looked up with: the analyzer, or its bare tokens when the
    # features are single words and no stop word is a term (a stop word would be dropped
    # by the lookup anyway: the same counts, one pass less).
    _features: Callable[[str], list[str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        analyzer = self.analyzer
        words_only = analyzer.ngram_range == (1, 1) and not any(
            word in self.vocabulary for word in analyzer.stop_words or ())
        derived = {"_idf": self.idf.tolist(), "_fold_weights": self.weights.T.tolist(),
                   "_calibration": list(zip(self.bias.tolist(), self.slope.tolist(),
                                            self.offset.tolist(), strict=True)),
                   "_features": analyzer.tokens if words_only else analyzer}
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    @classmethod
    def load(cls, directory: Traversable) -> CalibratedLinearTfidf:
        """Reads the three exported files; raises ValueError when they disagree."""
        settings = json.loads((directory / "settings.json").read_text(encoding="utf-8"))
        terms = read_vocabulary((directory / "vocabulary.txt").read_text(encoding="utf-8"))
        with (directory / "weights.npz").open("rb") as file, np.load(file) as npz:
            arrays = {name: npz[name] for name in ARRAYS}
        return cls.build(settings, terms, arrays)

    @classmethod
    def build(cls, settings: Mapping[str, Any], terms: Sequence[str],
              arrays: Mapping[str, np.ndarray]) -> CalibratedLinearTfidf:
        """From exported parts (see :func:`classifiers.profanity_model.export.export`)."""
        folds = arrays["weights"].shape[1] if arrays["weights"].ndim == 2 else 0
        expected = {"idf": (len(terms),), "weights": (len(terms), folds),
                    **{name: (folds,) for name in ("bias", "slope", "offset")}}
        if folds == 0 or any(arrays[name].shape != expected[name] for name in ARRAYS):
            shapes = {name: arrays[name].shape for name in ARRAYS}
            raise ValueError(f"{len(terms)} terms but array shapes {shapes}")
        tfidf = settings["tfidf"]
        if tfidf["norm"] not in (None, "l1", "l2"):
            raise ValueError(f"unsupported tf-idf norm {tfidf['norm']!r} (l1, l2 or null)")
        return cls(analyzer=WordAnalyzer.from_settings(settings["analyzer"]),
                   vocabulary={term: column for column, term in enumerate(terms)},
                   **{name: np.asarray(arrays[name], dtype=np.float64) for name in ARRAYS},
                   binary=bool(tfidf["binary"]), sublinear_tf=bool(tfidf["sublinear_tf"]),
                   norm=tfidf["norm"])

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """The positive class's calibrated probability for each text (float64, in order).
        A few texts are scored one by one in Python floats (``probability``), a batch in
        NumPy arrays: the same operations in the same order either way, so a text's score
        does not depend on its batch (tested)."""
        if len(texts) <= SCALAR_BATCH:
            return np.array([self.probability(text) for text in texts], dtype=np.float64)
        return self.calibrate(self.margins(self.tfidf(texts), len(texts)))

    def probability(self, text: str) -> float:
        """One text's calibrated probability, in Python floats: a short text has a dozen
        features, and NumPy's fixed cost per call was most of its time (one tweet: 38 ->
        19 us a call, ``bench.profanity``). Each step is sklearn's arithmetic in sklearn's
        order (module docstring): tf, times idf, the row norm summed over the terms by
        ascending column, each value divided by it, each fold's margin summed from 0.0 in
        that order plus its intercept, each fold's sigmoid, summed fold by fold and
        divided."""
        counter = self.count_columns(text)
        columns = sorted(counter)
        values = self._tf_idf(counter, columns)
        if self.norm is not None:
            norm = self._row_norm(values)
            values = [value / norm for value in values]
        total = 0.0
        for weights, (bias, slope, offset) in zip(self._fold_weights, self._calibration,
                                                  strict=True):
            margin = 0.0
            for value, column in zip(values, columns, strict=True):
                margin += value * weights[column]
            total += 1.0 / (1.0 + _exp(slope * (margin + bias) + offset))
        return total / len(self._calibration)

    def _tf_idf(self, counter: dict[int, int], columns: list[int]) -> list[float]:
        """Each column's term frequency (binary, sublinear or the count) times its idf."""
        idf = self._idf
        if not (self.binary or self.sublinear_tf):  # the common case, in one pass
            return [float(counter[column]) * idf[column] for column in columns]
        values = [(1.0 if self.binary else float(counter[column])) for column in columns]
        if self.sublinear_tf:
            values = [math.log(value) + 1.0 for value in values]
        return [value * idf[column] for value, column in zip(values, columns, strict=True)]

    def count_columns(self, text: str) -> dict[int, int]:
        """column -> how many of the text's features fall on it."""
        counter: dict[int, int] = {}
        for column in map(self.vocabulary.get, self._features(text)):
            if column is not None:
                counter[column] = counter.get(column, 0) + 1
        return counter

    def counts(self, texts: Sequence[str]) -> SparseRows:
        """Vocabulary counts per text (out-of-vocabulary features are dropped)."""
        rows: list[int] = []
        columns: list[int] = []
        counts: list[int] = []
        for row, text in enumerate(texts):
            counter = self.count_columns(text)
            for column in sorted(counter):
                rows.append(row)
                columns.append(column)
                counts.append(counter[column])
        return SparseRows(np.array(rows, dtype=np.intp), np.array(columns, dtype=np.intp),
                          np.array(counts, dtype=np.float64))

    def tfidf(self, texts: Sequence[str]) -> SparseRows:
        """TfidfTransformer.transform: binary/sublinear tf, times idf, then the row norm."""
        counts = self.counts(texts)
        values = np.ones_like(counts.values) if self.binary else counts.values
        if self.sublinear_tf:
            values = np.log(values) + 1.0
        values = values * self.idf[counts.columns]
        if self.norm is not None:
            values = values / self.row_norms(counts.rows, values, len(texts))[counts.rows]
        return SparseRows(counts.rows, counts.columns, values)

    def row_norms(self, rows: np.ndarray, values: np.ndarray, n_rows: int) -> np.ndarray:
        """Each row's l1 or l2 norm, summed in data order as sklearn; 1.0 for empty rows."""
        if self.norm == "l2":
            norms = np.sqrt(np.bincount(rows, weights=values * values, minlength=n_rows))
        else:
            norms = np.bincount(rows, weights=np.abs(values), minlength=n_rows)
        norms[norms == 0.0] = 1.0
        return norms

    def margins(self, tfidf: SparseRows, n_rows: int) -> np.ndarray:
        """Each fold's decision function (n_rows, folds): the sparse dot product, then bias."""
        margins = np.zeros((n_rows, self.weights.shape[1]))
        np.add.at(margins, tfidf.rows, tfidf.values[:, None] * self.weights[tfidf.columns])
        decisions: np.ndarray = margins + self.bias
        return decisions

    def calibrate(self, margins: np.ndarray) -> np.ndarray:
        """Each fold's sigmoid, 1 / (1 + exp(a * margin + b)), averaged over the folds
        (``exp`` the C library's, as ``probability``'s)."""
        exponents = self.slope * margins + self.offset
        powers = np.array([_exp(x) for x in exponents.ravel().tolist()]).reshape(exponents.shape)
        probabilities = 1.0 / (1.0 + powers)
        total = np.zeros(len(margins))
        for fold in range(probabilities.shape[1]):  # summed fold by fold, as sklearn
            total += probabilities[:, fold]
        mean: np.ndarray = total / probabilities.shape[1]
        return mean

    def _row_norm(self, values: list[float]) -> float:
        """The row's l1 or l2 norm, summed in column order from 0.0; 1.0 for an empty row."""
        norm = 0.0
        if self.norm == "l2":
            for value in values:
                norm += value * value
            norm = math.sqrt(norm)
        else:
            for value in values:
                norm += abs(value)
        return norm if norm != 0.0 else 1.0


def _exp(x: float) -> float:
    """The C library's exp, as SciPy's ``expit``; +inf past the largest finite result."""
    return math.exp(x) if x < _EXP_OVERFLOW else math.inf


_EXP_OVERFLOW = math.log(sys.float_info.max)
