"""cnnvis: look inside the ImageNet CNNs of keras.applications.

    import cnnvis
    model = cnnvis.load_model("MobileNetV2")          # ImageNet weights, logits
    image = cnnvis.load_image("examples/cat.jpg")     # uint8 RGB H x W x 3
    cnnvis.classify(model, image)                     # top-5 predictions
    cam = cnnvis.grad_cam(model, image)               # heatmap in [0, 1] at the image's size
    picture = cnnvis.render.overlay(image, cam.heatmap)

Techniques compute float32 arrays; :mod:`cnnvis.render` turns them into pictures.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from . import errors, render
from .errors import (
    CnnvisError,
    ComputeError,
    ImageError,
    ImageTooLargeError,
    ImageTooSmallError,
    NotAnImageError,
    ParameterError,
    TruncatedImageError,
    UnknownClassError,
    UnknownLayerError,
    UnknownModelError,
    WeightsUnavailableError,
)
from .images import load_image

# Everything that needs TensorFlow is imported on first use, so that `import cnnvis`
# (or cnnvis.render, cnnvis.images) stays light until a model is actually touched.
_LAZY = {
    "LayerInfo": "graph",
    "imagenet_classes": "labels",
    "MODEL_CACHE": "models",
    "ModelSpec": "models",
    "REGISTRY": "models",
    "VisModel": "models",
    "list_models": "models",
    "load_model": "models",
    "wrap_model": "models",
    "Preprocessing": "preprocessing",
    "TECHNIQUES": "techniques",
    "Dream": "techniques",
    "DreamFrame": "techniques",
    "FeatureMaps": "techniques",
    "Filters": "techniques",
    "Prediction": "techniques",
    "classify": "techniques",
    "deep_dream": "techniques",
    "deep_dream_frames": "techniques",
    "feature_visualization": "techniques",
    "feature_visualization_frames": "techniques",
    "FeatureVisualization": "techniques",
    "FeatureVisFrame": "techniques",
    "compare": "metrics",
    "deletion_insertion": "metrics",
    "randomization_check": "metrics",
    "pointing_game": "metrics",
    "Comparison": "metrics",
    "Faithfulness": "metrics",
    "RandomizationCheck": "metrics",
    "PointingResult": "metrics",
    "trust_report": "trust",
    "TrustReport": "trust",
    "feature_maps": "techniques",
    "filters": "techniques",
    "grad_cam": "techniques",
    "guided_backprop": "techniques",
    "guided_grad_cam": "techniques",
    "grad_cam_plus_plus": "techniques",
    "layer_cam": "techniques",
    "score_cam": "techniques",
    "eigen_cam": "techniques",
    "occlusion": "techniques",
    "Occlusion": "techniques",
    "vanilla_gradient": "techniques",
    "smoothgrad": "techniques",
    "integrated_gradients": "techniques",
    "IntegratedGradients": "techniques",
    "gradient_x_input": "techniques",
    "Attribution": "techniques.base",
    "Heatmap": "techniques.base",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .graph import LayerInfo
    from .models import VisModel


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cnnvis' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"


def conv_layers(model: "VisModel | str") -> "list[LayerInfo]":
    """The layers worth visualising: convolutions, their activations and block outputs
    with a spatial size > 1, in order (nested sub-models included)."""
    from .models import as_vis_model

    model = as_vis_model(model)
    wanted = set(model.visual_layers)
    return [info for info in model.layer_infos if info.name in wanted]


def default_layer(model: "VisModel | str") -> str:
    """The default Grad-CAM layer: the feature map the classifier head consumes."""
    from .models import as_vis_model

    return as_vis_model(model).default_layer


__all__ = [
    "errors",
    "render",
    "list_models",
    "load_model",
    "wrap_model",
    "load_image",
    "conv_layers",
    "default_layer",
    "imagenet_classes",
    "classify",
    "filters",
    "feature_maps",
    "guided_backprop",
    "grad_cam",
    "guided_grad_cam",
    "grad_cam_plus_plus",
    "layer_cam",
    "score_cam",
    "eigen_cam",
    "occlusion",
    "vanilla_gradient",
    "smoothgrad",
    "integrated_gradients",
    "gradient_x_input",
    "deep_dream",
    "deep_dream_frames",
    "feature_visualization",
    "feature_visualization_frames",
    "compare",
    "deletion_insertion",
    "randomization_check",
    "pointing_game",
    "trust_report",
    "TECHNIQUES",
    "REGISTRY",
    "MODEL_CACHE",
    "ModelSpec",
    "VisModel",
    "LayerInfo",
    "Preprocessing",
    "Prediction",
    "Filters",
    "FeatureMaps",
    "Heatmap",
    "Attribution",
    "Occlusion",
    "IntegratedGradients",
    "Dream",
    "DreamFrame",
    "FeatureVisualization",
    "FeatureVisFrame",
    "Comparison",
    "Faithfulness",
    "RandomizationCheck",
    "PointingResult",
    "TrustReport",
    "CnnvisError",
    "ComputeError",
    "ImageError",
    "ImageTooLargeError",
    "ImageTooSmallError",
    "NotAnImageError",
    "ParameterError",
    "TruncatedImageError",
    "UnknownClassError",
    "UnknownLayerError",
    "UnknownModelError",
    "WeightsUnavailableError",
]
