"""Convolution kernels as pictures.

Kernels of the first convolution are shown as RGB pictures *in pixel space*: the kernel
is composed with the linear part of everything between the photo and that convolution
(the family's preprocessing, in-model rescaling and normalisation, and the BGR order of
caffe models), so red in the picture means "responds to red in the photo". Deeper
kernels are shown per input channel; what deep filters respond to is better seen with
activation maximisation (feature visualisation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models import graph
from ..errors import UnknownLayerError, quoted
from ..models.loading import VisModel
from . import compiled
from ..registry import Option, technique
from .base import Displayed, resolve


@dataclass(frozen=True)
class Filters(Displayed):
    """Selected kernels of one convolution."""

    model: str
    layer: str
    kernels: np.ndarray  # rgb: (n, kh, kw, 3); else (n, k, kh, kw), float32, signed
    filter_indices: np.ndarray  # (n,) output channels shown
    input_channels: np.ndarray  # rgb: (3,) = R, G, B; else (n, k) input channel of each slice
    norms: np.ndarray  # (n,) L2 norm of each filter's whole kernel
    rgb: bool
    total_filters: int

    @property
    def caption(self) -> str:
        kind = "RGB kernels in pixel space" if self.rgb else "kernels per input channel"
        return f"Filters · {self.model} · {self.layer} · {kind}"


def _kernel(layer) -> tuple[np.ndarray, int]:
    """The spatial kernel as (kh, kw, in_per_group, out) and the number of groups."""
    if hasattr(layer, "depthwise_kernel"):  # SeparableConv2D: show the spatial part
        kernel = np.asarray(layer.depthwise_kernel)
    else:
        kernel = np.asarray(layer.kernel)
    if kernel is None or kernel.ndim != 4:
        raise UnknownLayerError(f"The layer '{layer.name}' has no 2-D convolution kernel.")
    if hasattr(layer, "depth_multiplier") or hasattr(layer, "depthwise_kernel"):
        kh, kw, channels, multiplier = kernel.shape  # output c*m+k reads input c
        return kernel.reshape(kh, kw, 1, channels * multiplier), channels
    return kernel, int(getattr(layer, "groups", 1) or 1)


def pixel_jacobian(model: VisModel, layer_name: str) -> np.ndarray:
    """M[c, j] = d(input channel c of the layer) / d(photo pixel channel j).

    Exact for the affine chain in front of a first convolution; measured at the centre
    pixel from four constant images (zero, and 100 grey levels in R, G or B).
    """
    source = graph.input_source(model.keras_model, model.layer(layer_name))
    height, width = model.input_size
    height, width = height or 64, width or 64
    probes = np.zeros((4, height, width, 3), np.float32)
    for j in range(3):
        probes[j + 1, ..., j] = 100.0
    if source is None:
        values = model.preprocessing.apply(probes)
    else:
        values = compiled.activations(model, (source.name,))(probes)[0].numpy()
    centre = values[:, values.shape[1] // 2, values.shape[2] // 2, :]
    return ((centre[1:] - centre[0]) / 100.0).T.astype(np.float32)


@technique(
    title="Filters",
    output="filters",
    paper="Krizhevsky et al. 2012, Fig. 3",
    summary="The weights of a convolution. The first layer's kernels are shown as colour "
    "pictures in pixel space: they look for edges, colours and textures.",
    options=(
        Option(
            "count",
            int,
            16,
            "How many filters",
            "How many filters to show.",
            low=1,
            high=1024,
            app_range=(1, 64, 1),
        ),
        Option(
            "order",
            str,
            "first",
            "Which filters",
            "The first ones in index order, or the strongest (largest weights) first.",
            choices=("first", "norm"),
            app_default="norm",
        ),
        Option(
            "input_channels",
            int,
            8,
            "Input channels",
            "For a deeper convolution: how many of each filter's input channels to show.",
            low=1,
            high=64,
            in_app=False,
        ),
    ),
    own_tab=True,
)
def filters(
    model: VisModel | str,
    layer: str | None = None,
    *,
    count: int = 16,
    order: str = "first",
    input_channels: int = 8,
) -> Filters:
    """Kernels of a convolution (default: the first one).

    ``count`` filters, chosen in index order (``order="first"``) or by decreasing L2 norm
    (``order="norm"``). The first convolution's kernels come as RGB pictures; others as
    ``input_channels`` slices per filter.
    """
    model = resolve(model)
    layer = layer or model.first_conv
    if layer not in model.filter_layers:
        raise UnknownLayerError(
            f"The layer {quoted(layer)} of {model.name} is not a convolution with a spatial kernel."
        )
    kernel, groups = _kernel(model.layer(layer))
    total = kernel.shape[-1]
    norms = np.sqrt((kernel.astype(np.float64) ** 2).sum(axis=(0, 1, 2)))
    chosen = np.arange(total) if order == "first" else np.argsort(-norms, kind="stable")
    chosen = chosen[: min(count, total)]
    rgb = groups == 1 and kernel.shape[2] == 3 and model.layer(layer).name == model.first_conv
    if rgb:
        jacobian = pixel_jacobian(model, layer)
        pixel_kernel = np.einsum("hwco,cj->ohwj", kernel, jacobian)
        return Filters(
            model=model.name,
            layer=layer,
            kernels=pixel_kernel[chosen].astype(np.float32),
            filter_indices=chosen,
            input_channels=np.arange(3),
            norms=norms[chosen].astype(np.float32),
            rgb=True,
            total_filters=total,
        )
    per_group_in = kernel.shape[2]
    per_group_out = total // groups
    shown = min(input_channels, per_group_in)
    slices = np.stack([kernel[:, :, :shown, o].transpose(2, 0, 1) for o in chosen])
    channels = np.stack(
        [(o // per_group_out) * per_group_in + np.arange(shown) for o in chosen]
    )
    return Filters(
        model=model.name,
        layer=layer,
        kernels=slices.astype(np.float32),
        filter_indices=chosen,
        input_channels=channels,
        norms=norms[chosen].astype(np.float32),
        rgb=False,
        total_filters=total,
    )
