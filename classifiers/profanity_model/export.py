"""Export alt-profanity-check's model into this package's data: ``python -m
classifiers.profanity_model.export [--out DIR]``.

A dev-time tool: it needs scikit-learn, joblib and alt-profanity-check (the ``dev`` extra);
the proxy at run time reads only the files it writes (see
:mod:`classifiers.profanity_model.model` for the format). Run it again after upgrading
alt-profanity-check; ``tests/classifiers/test_profanity_numpy.py`` fails while the shipped
files differ from a fresh export. Settings the NumPy evaluator cannot reproduce exactly
(custom callables, a char analyzer, float32, other calibrations) are refused here.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import numpy as np

SOURCE = "alt-profanity-check"
SOURCE_URL = "https://github.com/dimitrismistriotis/alt-profanity-check"
SOURCE_FILES = ("vectorizer.joblib", "model.joblib")
DEFAULT_OUT = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Export:
    settings: dict[str, Any]
    terms: list[str]
    arrays: dict[str, np.ndarray]
    notice: str


def load_source() -> tuple[Any, Any, dict[str, Any]]:
    """The installed package's (vectorizer, calibrated model) and where they came from."""
    import joblib
    import sklearn

    data = resources.files("profanity_check") / "data"
    digests = {name: hashlib.sha256((data / name).read_bytes()).hexdigest()
               for name in SOURCE_FILES}
    source = {"package": SOURCE, "version": metadata.version(SOURCE), "url": SOURCE_URL,
              "scikit_learn": sklearn.__version__, "sha256": digests}
    return joblib.load(data / SOURCE_FILES[0]), joblib.load(data / SOURCE_FILES[1]), source


def analyzer_settings(vectorizer: Any) -> dict[str, Any]:
    """The analyzer's settings; ValueError for what WordAnalyzer does not reproduce."""
    params = vectorizer.get_params()
    unsupported = {key: params[key] for key in ("preprocessor", "tokenizer") if params[key]}
    if params["analyzer"] != "word" or params["input"] != "content" or unsupported:
        raise ValueError(f"only analyzer='word' on strings without custom callables: "
                         f"{params['analyzer']!r}, {params['input']!r}, {unsupported}")
    if params["strip_accents"] not in (None, "ascii", "unicode"):
        raise ValueError(f"strip_accents={params['strip_accents']!r} is not supported")
    stop_words = vectorizer.get_stop_words()
    return {"lowercase": bool(params["lowercase"]), "strip_accents": params["strip_accents"],
            "token_pattern": params["token_pattern"],
            "stop_words": None if stop_words is None else sorted(stop_words),
            "ngram_range": list(params["ngram_range"])}


def tfidf_settings(vectorizer: Any) -> dict[str, Any]:
    """Transform-time settings, plus the fit-time ones (already in the vocabulary and idf)."""
    params = vectorizer.get_params()
    if np.dtype(params["dtype"]) != np.float64 or params["norm"] not in (None, "l1", "l2"):
        raise ValueError(f"only float64 with norm l1, l2 or None: {params['dtype']}, "
                         f"{params['norm']!r}")
    fitted = {key: params[key] for key in ("use_idf", "smooth_idf", "min_df", "max_df",
                                           "max_features")}
    return {"binary": bool(params["binary"]), "sublinear_tf": bool(params["sublinear_tf"]),
            "norm": params["norm"], "fit": fitted}


def column_terms(vocabulary: dict[str, int]) -> list[str]:
    """Terms in column order; each must fit on one line of vocabulary.txt."""
    terms = [""] * len(vocabulary)
    for term, column in vocabulary.items():
        terms[column] = term
    if any("\n" in term or term == "" for term in terms) or len(set(terms)) != len(terms):
        raise ValueError("the vocabulary has an empty or multi-line term or a missing column")
    return terms


def fold_arrays(vectorizer: Any, calibrated: Any) -> dict[str, np.ndarray]:
    """idf and, per CalibratedClassifierCV fold, the linear weights, bias and sigmoid."""
    folds = calibrated.calibrated_classifiers_
    n_terms = len(vectorizer.vocabulary_)
    if calibrated.method != "sigmoid" or len(calibrated.classes_) != 2:
        raise ValueError(f"only a binary sigmoid calibration: {calibrated.method!r}, "
                         f"classes {list(calibrated.classes_)}")
    for fold in folds:
        if fold.estimator.coef_.shape != (1, n_terms) or len(fold.calibrators) != 1:
            raise ValueError(f"a fold is not one linear model over {n_terms} terms")
    idf = vectorizer.idf_ if vectorizer.use_idf else np.ones(n_terms)
    return {"idf": np.asarray(idf, dtype=np.float64),
            "weights": np.stack([f.estimator.coef_.ravel() for f in folds], axis=1),
            "bias": np.array([f.estimator.intercept_[0] for f in folds], dtype=np.float64),
            "slope": np.array([f.calibrators[0].a_ for f in folds], dtype=np.float64),
            "offset": np.array([f.calibrators[0].b_ for f in folds], dtype=np.float64)}


def license_notice(version: str) -> str:
    """The source package's MIT license, as its wheel ships it, under a line saying what
    was taken from it."""
    distribution = metadata.distribution(SOURCE)
    text = distribution.read_text("licenses/LICENSE") or distribution.read_text("LICENSE")
    if not text:
        raise ValueError(f"{SOURCE} {version}: no LICENSE file in its dist-info")
    return (f"settings.json, vocabulary.txt and weights.npz in this directory are exported "
            f"from the model files of {SOURCE} {version}\n({SOURCE_URL}), distributed under "
            f"the following license:\n\n{text.rstrip()}\n")


def export(vectorizer: Any, calibrated: Any, source: dict[str, Any]) -> Export:
    settings = {"source": source, "analyzer": analyzer_settings(vectorizer),
                "tfidf": tfidf_settings(vectorizer),
                "calibration": {"method": "sigmoid", "folds": len(
                    calibrated.calibrated_classifiers_)}}
    return Export(settings, column_terms(vectorizer.vocabulary_),
                  fold_arrays(vectorizer, calibrated), license_notice(source["version"]))


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed``'s format (read by ``np.load``), but byte-reproducible: sorted
    names and a fixed timestamp, so re-exporting an unchanged model changes no byte."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[name]),
                                      allow_pickle=False)
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(entry, buffer.getvalue(), zipfile.ZIP_DEFLATED, 9)


def write(exported: Export, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    settings = json.dumps(exported.settings, indent=1, sort_keys=True, ensure_ascii=False)
    (directory / "settings.json").write_text(settings + "\n", encoding="utf-8")
    (directory / "vocabulary.txt").write_text(
        "".join(f"{term}\n" for term in exported.terms), encoding="utf-8", newline="\n")
    write_npz(directory / "weights.npz", exported.arrays)
    (directory / "LICENSE").write_text(exported.notice, encoding="utf-8", newline="\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: %(default)s")
    out = parser.parse_args(argv).out
    exported = export(*load_source())
    write(exported, out)
    sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    print(json.dumps({"out": str(out), "terms": len(exported.terms), "bytes": sizes}))


if __name__ == "__main__":
    main()
