"""The techniques, one module per family. Importing this package registers each of them
in :data:`cnnvis.registry.TECHNIQUES` (see :func:`cnnvis.registry.technique`); the
faithfulness checks register themselves from :mod:`cnnvis.evaluation.checks`.

Adding a technique to a family = its function with its ``@technique`` declaration in that
family's module, and its tests. A new family module is imported here once.
"""

from __future__ import annotations

from . import classification
from . import filters
from . import feature_maps
from . import gradients
from . import cam
from . import occlusion
from . import attributions
from . import deep_dream
from . import feature_vis
from . import attention
from .attributions import IntegratedGradients
from .base import Attribution, Heatmap
from .classification import Prediction, Predictions
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
    "Predictions",
    "deep_dream_frames",
    "feature_visualization_frames",
]
