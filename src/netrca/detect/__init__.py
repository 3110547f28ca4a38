"""Detection: the Detector (Isolation Forest + behavioural detectors), thresholds, persistence."""

from __future__ import annotations

from netrca.detect._detector import DETECTOR_CAPS, IF_CAP, Detector, Scores
from netrca.detect.behavior import DETECTORS
from netrca.detect.forest import FlatForest

__all__ = ["DETECTORS", "DETECTOR_CAPS", "IF_CAP", "Detector", "FlatForest", "Scores"]
