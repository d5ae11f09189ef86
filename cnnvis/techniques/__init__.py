"""The techniques, and one registry that the app, the command line and the tests read.

Adding a technique = one module plus one entry in ``TECHNIQUES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .cam import grad_cam, guided_grad_cam
from .classification import Prediction, classify
from .deep_dream import Dream, DreamFrame, deep_dream, deep_dream_frames
from .feature_maps import FeatureMaps, feature_maps
from .filters import Filters, filters
from .gradients import guided_backprop


@dataclass(frozen=True)
class Technique:
    """A technique as the UI and the documentation present it."""

    name: str  # the function name and the app's api_name
    title: str
    function: Callable
    output: str  # "classes", "filters", "maps", "attribution", "heatmap" or "image"
    paper: str
    summary: str  # two sentences for a student


TECHNIQUES: dict[str, Technique] = {
    t.name: t
    for t in (
        Technique(
            "classify",
            "Predictions",
            classify,
            "classes",
            "Krizhevsky et al. 2012; Deng et al. 2009 (ImageNet)",
            "The model's five most probable ImageNet classes for the photo. "
            "Probabilities come from a softmax over the model's logits.",
        ),
        Technique(
            "filters",
            "Filters",
            filters,
            "filters",
            "Krizhevsky et al. 2012, Fig. 3",
            "The weights of a convolution. The first layer's kernels are shown as colour "
            "pictures in pixel space: they look for edges, colours and textures.",
        ),
        Technique(
            "feature_maps",
            "Feature maps",
            feature_maps,
            "maps",
            "Zeiler & Fergus 2014",
            "What each channel of a layer computes for this photo: bright where the "
            "channel responds. Early layers respond to edges, deep layers to parts and objects.",
        ),
        Technique(
            "guided_backprop",
            "Guided backprop",
            guided_backprop,
            "attribution",
            "Springenberg et al. 2015",
            "Which pixels, if brightened, would raise the class score, keeping only positive "
            "signals at every ReLU. Sharp, but known to be weakly class-specific (Adebayo et al. 2018).",
        ),
        Technique(
            "grad_cam",
            "Grad-CAM",
            grad_cam,
            "heatmap",
            "Selvaraju et al. 2017",
            "Where in the photo the evidence for a class lies, from the gradient of the class "
            "score at a deep feature map. Coarse but class-specific.",
        ),
        Technique(
            "guided_grad_cam",
            "Guided Grad-CAM",
            guided_grad_cam,
            "attribution",
            "Selvaraju et al. 2017",
            "Guided backprop multiplied by the Grad-CAM map: fine detail, restricted to the "
            "region that supports the class.",
        ),
        Technique(
            "deep_dream",
            "Deep Dream",
            deep_dream,
            "image",
            "Mordvintsev, Olah & Tyka 2015",
            "The photo changed step by step to excite chosen layers more and more, over "
            "several scales: the patterns the network looks for appear in it.",
        ),
    )
}

__all__ = [
    "TECHNIQUES",
    "Technique",
    "Prediction",
    "Filters",
    "FeatureMaps",
    "Dream",
    "DreamFrame",
    "classify",
    "filters",
    "feature_maps",
    "guided_backprop",
    "grad_cam",
    "guided_grad_cam",
    "deep_dream",
    "deep_dream_frames",
]
