"""alt-profanity-check's linear model, exported once into package data and evaluated in NumPy.

The run time needs NumPy and the standard library only (no scikit-learn, SciPy or joblib):
:mod:`.analyzer` reproduces the vectorizer's word analyzer, :mod:`.model` the tf-idf step,
the folded linear models and their sigmoid calibration. :mod:`.export` (dev-time, needs
scikit-learn and alt-profanity-check) writes ``data/``; ``data/LICENSE`` is the source
package's MIT notice, which travels with the exported weights.
"""

from classifiers.profanity_model.model import CalibratedLinearTfidf, packaged_data

__all__ = ["CalibratedLinearTfidf", "packaged_data"]
