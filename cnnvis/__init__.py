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
import importlib.util
from typing import TYPE_CHECKING

from . import errors, render
from .errors import (
    CnnvisError,
    ComputeError,
    ImageError,
    ImageTooLargeError,
    ImageTooSmallError,
    ModelFileError,
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
# (or cnnvis.render, cnnvis.images) stays light until a model is actually touched. The
# techniques are found in the registry (each module registers its own), so adding one
# needs no change here.
_REGISTERING = ("techniques", "checks", "trust")  # importing these registers every technique
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
    "weights_status": "models",
    "WeightsStatus": "availability",
    "load_keras_file": "own_models",
    "inspect_keras_file": "own_models",
    "read_class_names": "own_models",
    "KerasFileInfo": "own_models",
    "Preprocessing": "preprocessing",
    "Technique": "registry",
    "Option": "registry",
    "Comparison": "metrics",
    "Faithfulness": "metrics",
    "RandomizationCheck": "metrics",
    "PointingResult": "metrics",
    "deletion_insertion": "metrics",
    "pointing_game": "metrics",
    "PointingGame": "checks",
    "explain_dataset": "datasets",
    "TrustReport": "trust",
    **{name: "techniques" for name in (
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
    )},
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .graph import LayerInfo
    from .models import VisModel
    from .registry import Technique


def _registry() -> "dict[str, Technique]":
    """The complete technique registry (every registering module imported)."""
    for module in _REGISTERING:
        importlib.import_module(f".{module}", __name__)
    from .registry import TECHNIQUES

    return TECHNIQUES


def _is_submodule(name: str) -> bool:
    """``from . import graph`` asks the package for the attribute first: a submodule's
    name must not make it load the registry."""
    return importlib.util.find_spec(f"{__name__}.{name}") is not None


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    elif name == "TECHNIQUES":
        value = _registry()
    elif name == "__all__":
        return sorted(set(_EAGER) | set(_LAZY) | {"TECHNIQUES"} | set(_registry()))
    elif not name.startswith("_") and not _is_submodule(name) and name in _registry():
        value = _registry()[name].function
    else:
        raise AttributeError(f"module 'cnnvis' has no attribute '{name}'")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__getattr__("__all__")))


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


# Names defined here (the rest comes from _LAZY and the registry).
_EAGER = (
    "errors",
    "render",
    "load_image",
    "conv_layers",
    "default_layer",
    "CnnvisError",
    "ComputeError",
    "ImageError",
    "ImageTooLargeError",
    "ImageTooSmallError",
    "ModelFileError",
    "NotAnImageError",
    "ParameterError",
    "TruncatedImageError",
    "UnknownClassError",
    "UnknownLayerError",
    "UnknownModelError",
    "WeightsUnavailableError",
)
