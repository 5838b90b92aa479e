"""The built-in detectors by label, in the order ``options.detectors`` defaults to."""

from __future__ import annotations

from classifiers.rules.links import LABEL as REMOTE_IMAGE
from classifiers.rules.links import remote_image_detectors
from classifiers.rules.personal_data import PERSONAL_DATA
from classifiers.rules.secrets import SECRET_DETECTORS
from classifiers.rules.spans import Detector

BUILT_IN: dict[str, tuple[Detector, ...]] = {
    **PERSONAL_DATA,
    "secret": SECRET_DETECTORS,
    REMOTE_IMAGE: remote_image_detectors(),  # options.image_hosts allows hosts (links.py)
}
