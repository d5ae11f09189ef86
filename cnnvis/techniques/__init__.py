"""The techniques, one module per family. Importing this package registers each of them
in :data:`cnnvis.registry.TECHNIQUES` (see :func:`cnnvis.registry.technique`); the
faithfulness checks register themselves from :mod:`cnnvis.checks`.

Adding a technique to a family = its function with its ``@technique`` declaration in that
family's module, and its tests. A new family module is imported here once.
"""

from __future__ import annotations

from . import (  # noqa: F401 - imported to register their techniques, in this order
    classification,
    filters,
    feature_maps,
    gradients,
    cam,
    occlusion,
    attributions,
    deep_dream,
    feature_vis,
)
from .attributions import IntegratedGradients
from .base import Attribution, Heatmap
from .classification import Prediction
from .deep_dream import Dream, DreamFrame, deep_dream_frames
from .feature_maps import FeatureMaps
from .feature_vis import FeatureVisFrame, FeatureVisualization, feature_visualization_frames
from .filters import Filters
from .occlusion import Occlusion

__all__ = [
    "Attribution",
    "Dream",
    "DreamFrame",
    "FeatureMaps",
    "FeatureVisFrame",
    "FeatureVisualization",
    "Filters",
    "Heatmap",
    "IntegratedGradients",
    "Occlusion",
    "Prediction",
    "deep_dream_frames",
    "feature_visualization_frames",
]
