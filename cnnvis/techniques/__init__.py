"""The techniques, and one registry that the app, the command line and the tests read.

Adding a technique = one module plus one entry in ``TECHNIQUES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .attributions import (
    IntegratedGradients,
    gradient_x_input,
    integrated_gradients,
    smoothgrad,
    vanilla_gradient,
)
from .cam import eigen_cam, grad_cam, grad_cam_plus_plus, guided_grad_cam, layer_cam, score_cam
from .classification import Prediction, classify
from .deep_dream import Dream, DreamFrame, deep_dream, deep_dream_frames
from .feature_maps import FeatureMaps, feature_maps
from .feature_vis import (
    FeatureVisFrame,
    FeatureVisualization,
    feature_visualization,
    feature_visualization_frames,
)
from .filters import Filters, filters
from .gradients import guided_backprop
from .occlusion import Occlusion, occlusion

# The metrics module imports the techniques lazily, so this import is not circular.
from ..metrics import compare  # noqa: E402


@dataclass(frozen=True)
class Technique:
    """A technique as the UI and the documentation present it."""

    name: str  # the function name and the app's api_name
    title: str
    function: Callable
    # "classes", "filters", "maps", "attribution", "heatmap", "image", "images" (a batch
    # of pictures, one per channel or class, made without a photo) or "metrics" (several
    # heatmap and attribution methods ranked by faithfulness, see cnnvis.metrics)
    output: str
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
            "Probabilities come from a softmax over the model's logits (for a model of your "
            "own with a sigmoid head, one sigmoid per class).",
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
            "grad_cam_plus_plus",
            "Grad-CAM++",
            grad_cam_plus_plus,
            "heatmap",
            "Chattopadhay et al. 2018",
            "Like Grad-CAM, but each channel's weight counts only positive gradients, each "
            "position weighted by a closed-form factor. It covers more of an object, and "
            "several objects of the same class, better than Grad-CAM.",
        ),
        Technique(
            "layer_cam",
            "LayerCAM",
            layer_cam,
            "heatmap",
            "Jiang et al. 2021",
            "Weights every position of every channel by its own positive gradient instead of "
            "one weight per channel. It stays sharp at early layers, where Grad-CAM blurs.",
        ),
        Technique(
            "score_cam",
            "Score-CAM",
            score_cam,
            "heatmap",
            "Wang et al. 2020",
            "Shows the photo to the model through each channel's map used as a mask, and "
            "weights the channel by how much the class score rises. No gradients, but one "
            "forward pass per channel, so it is slower.",
        ),
        Technique(
            "eigen_cam",
            "Eigen-CAM",
            eigen_cam,
            "heatmap",
            "Muhammad & Yeasin 2020",
            "The main pattern of a layer's activations (their first principal component), "
            "shown as a map. It needs no gradient and no class: it shows what stands out "
            "to the network, the same for every class.",
        ),
        Technique(
            "occlusion",
            "Occlusion",
            occlusion,
            "heatmap",
            "Zeiler & Fergus 2014",
            "Covers the photo with a grey square, position by position, and records how much "
            "the class probability drops. Slow but easy to trust: it only asks the model.",
        ),
        Technique(
            "vanilla_gradient",
            "Gradient",
            vanilla_gradient,
            "attribution",
            "Simonyan et al. 2014",
            "How much each pixel, changed a little, would change the class score. Fast and "
            "faithful to the model, but noisy.",
        ),
        Technique(
            "smoothgrad",
            "SmoothGrad",
            smoothgrad,
            "attribution",
            "Smilkov et al. 2017",
            "The gradient averaged over many noisy copies of the photo. The noise cancels "
            "out and the object's outline stands out.",
        ),
        Technique(
            "integrated_gradients",
            "Integrated Gradients",
            integrated_gradients,
            "attribution",
            "Sundararajan et al. 2017",
            "Adds up the gradients along a straight path from a baseline (a black image) to "
            "the photo. The pixel attributions sum to the change in the class score, which "
            "the result checks.",
        ),
        Technique(
            "gradient_x_input",
            "Gradient x input",
            gradient_x_input,
            "attribution",
            "Shrikumar et al. 2016",
            "The gradient multiplied by the pixel values: how much each pixel contributes "
            "compared with black. It is Integrated Gradients with a single step.",
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
        Technique(
            "feature_visualization",
            "Feature visualisation",
            feature_visualization,
            "images",
            "Olah, Mordvintsev & Schubert 2017 (Distill)",
            "A picture grown from grey noise, step by step, to excite one channel of a layer "
            "(or one class) as much as possible: what that unit looks for. Random shifts, "
            "scalings and rotations, and the colour and frequency statistics of photos, keep "
            "it free of adversarial noise.",
        ),
        Technique(
            "compare",
            "Compare (faithfulness)",
            compare,
            "metrics",
            "Petsiuk, Das & Saenko 2018 (RISE deletion and insertion)",
            "Several explanation methods on one photo, ranked by how fast the class "
            "probability falls when their most important pixels are deleted and how fast it "
            "comes back when only those pixels are shown. A random map gives the baseline.",
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
    "grad_cam_plus_plus",
    "layer_cam",
    "score_cam",
    "eigen_cam",
    "occlusion",
    "Occlusion",
    "vanilla_gradient",
    "smoothgrad",
    "integrated_gradients",
    "IntegratedGradients",
    "gradient_x_input",
    "deep_dream",
    "deep_dream_frames",
    "feature_visualization",
    "feature_visualization_frames",
    "compare",
    "FeatureVisualization",
    "FeatureVisFrame",
]
