"""The built-in detectors by label, in the order ``options.detectors`` defaults to."""

from __future__ import annotations

from classifiers.rules.personal_data import PERSONAL_DATA
from classifiers.rules.secrets import SECRET_DETECTORS
from classifiers.rules.spans import Detector

BUILT_IN: dict[str, tuple[Detector, ...]] = {
    **PERSONAL_DATA,
    "secret": SECRET_DETECTORS,
}
