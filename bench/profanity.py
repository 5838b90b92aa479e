"""What one profanity call costs: the NumPy evaluator against the scikit-learn pipeline.

Prints one JSON document: the median microseconds per call for 1 text and for a batch of
32 texts (texts cycled from the Davidson tweets, or a built-in list when ../shared/data is
absent), for ``numpy`` (classifiers.profanity today), ``sklearn_folded`` (the previous
code: TfidfVectorizer.transform, then the folds as one matrix product) and
``sklearn_predict_proba`` (the package's own pipeline); the largest score difference
between numpy and predict_proba over every text used; and the cold start (import and load,
in a fresh process) of each. Needs the dev extra (scikit-learn, alt-profanity-check).

    python -m bench.profanity [--calls 2000]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.profanity import LinearProfanityModel

ROOT = Path(__file__).resolve().parents[1]
TWEETS = ROOT.parent / "shared/data/davidson_hate_offensive/labeled_data.csv"
FALLBACK = ["have a lovely day", "you are a fucking idiot", "the weather is mild today",
            "shut up bitch", "thanks for the help with my code, it works now!",
            "RT @someone: what a stupid take lmao 😂😂", "Ünïcödé text ✓", ""]
COLD_STARTS = {
    "numpy": "from classifiers.profanity import LinearProfanityModel as M\n"
             "M.load_packaged().predict(['x'])",
    "sklearn": "import joblib; from importlib import resources\n"
               "d = resources.files('profanity_check') / 'data'\n"
               "v = joblib.load(d / 'vectorizer.joblib'); m = joblib.load(d / 'model.joblib')\n"
               "m.predict_proba(v.transform(['x']))",
}


def texts() -> list[str]:
    if not TWEETS.is_file():
        return FALLBACK * 250
    with TWEETS.open(encoding="utf-8", newline="") as file:
        return [row["tweet"] for row in csv.DictReader(file)][:4000]


def sklearn_paths() -> dict[str, Callable[[list[str]], Any]]:
    """The previous folded code and the package's predict_proba, on the joblib files."""
    from importlib import resources

    import joblib

    data = resources.files("profanity_check") / "data"
    vectorizer = joblib.load(data / "vectorizer.joblib")
    calibrated = joblib.load(data / "model.joblib")
    folds = calibrated.calibrated_classifiers_
    weights = np.stack([f.estimator.coef_.ravel() for f in folds]).T
    bias = np.array([f.estimator.intercept_[0] for f in folds])
    slope = np.array([f.calibrators[0].a_ for f in folds])
    offset = np.array([f.calibrators[0].b_ for f in folds])

    def folded(batch: list[str]) -> Any:
        margins = vectorizer.transform(batch) @ weights + bias
        return (1.0 / (1.0 + np.exp(slope * margins + offset))).mean(axis=1)

    return {"sklearn_folded": folded,
            "sklearn_predict_proba": lambda b: calibrated.predict_proba(
                vectorizer.transform(b))[:, 1]}


def median_us(predict: Callable[[list[str]], Any], corpus: list[str], size: int,
              calls: int) -> float:
    """Median wall time of one call on ``size`` consecutive texts, cycling the corpus."""
    timings = []
    for call in range(calls):
        start = (call * size) % (len(corpus) - size)
        batch = corpus[start:start + size]
        began = time.perf_counter()
        predict(batch)
        timings.append(time.perf_counter() - began)
    return round(statistics.median(timings) * 1e6, 1)


def cold_start_ms(code: str) -> float:
    """Import and load in a fresh interpreter (best of three)."""
    script = f"import time\nt = time.perf_counter()\n{code}\nprint(time.perf_counter() - t)"
    runs = [float(subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True,
                                 capture_output=True, text=True).stdout) for _ in range(3)]
    return round(min(runs) * 1e3, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per figure (1 text)")
    calls = parser.parse_args().calls
    corpus = texts()
    paths = {"numpy": LinearProfanityModel.load_packaged().predict, **sklearn_paths()}
    figures: dict[str, Any] = {"texts": len(corpus), "calls": calls}
    for name, predict in paths.items():
        figures[name] = {"us_per_call_1_text": median_us(predict, corpus, 1, calls),
                         "us_per_call_32_texts": median_us(predict, corpus, 32, calls // 8)}
    difference = np.abs(np.asarray(paths["numpy"](corpus))
                        - paths["sklearn_predict_proba"](corpus))
    figures["max_abs_difference_vs_predict_proba"] = float(difference.max())
    figures["cold_start_ms"] = {name: cold_start_ms(code) for name, code in COLD_STARTS.items()}
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
