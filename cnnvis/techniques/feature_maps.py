"""Feature maps: what the channels of any layers compute for one image.

All requested layers come from one compiled multi-output pass that stops at the deepest
of them (Zeiler & Fergus 2014 popularised looking at them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import ParameterError
from ..models.loading import VisModel
from . import compiled
from ..registry import Option, technique
from .base import Displayed, check_int, prepare, resolve


@dataclass(frozen=True)
class FeatureMaps(Displayed):
    """Selected channels of one layer's output for one image."""

    model: str
    layer: str
    maps: np.ndarray  # (n, h, w) float32, at the layer's own resolution
    channels: np.ndarray  # (n,) channel index of each map
    mean_activation: np.ndarray  # (C,) spatial mean of every channel
    shape: tuple[int, int, int]  # the layer's full output (h, w, C)

    @property
    def caption(self) -> str:
        h, w, c = self.shape
        return f"Feature maps · {self.model} · {self.layer} · {h}x{w}, {c} channels"


ORDERS = ("first", "most_active")
MAX_LAYERS = 64
MAX_CHANNELS = 4096  # maps one call returns per layer (count, or the length of channels)


def _select(mean: np.ndarray, count: int, order: str, channels: Sequence[int] | None) -> np.ndarray:
    total = mean.shape[0]
    if channels is not None:
        chosen = np.asarray(
            [check_int("channel", c, 0, total - 1) for c in channels], dtype=np.int64
        )
        if chosen.size == 0:
            raise ParameterError(f"Channels must be between 0 and {total - 1}.")
        return chosen
    if order == "first":
        return np.arange(min(count, total))
    return np.argsort(-mean, kind="stable")[:count]


@technique(
    title="Feature maps",
    output="maps",
    paper="Zeiler & Fergus 2014",
    summary="What each channel of a layer computes for this photo: bright where the channel "
    "responds. Early layers respond to edges, deep layers to parts and objects.",
    options=(
        Option(
            "count",
            int,
            16,
            "How many channels",
            "How many channels of the layer to show.",
            low=1,
            high=MAX_CHANNELS,
            app_range=(1, 64, 1),
        ),
        Option(
            "order",
            str,
            "first",
            "Which channels",
            "The first ones in index order, or the most active for this photo first.",
            choices=ORDERS,
            app_default="most_active",
        ),
    ),
    own_tab=True,
    work=f"1 … {MAX_LAYERS} layers per call; 1 … {MAX_CHANNELS} channel indices, each a "
    "channel of the layer",
)
def feature_maps(
    model: VisModel | str,
    image,
    layers: str | Sequence[str] | None = None,
    *,
    count: int = 16,
    order: str = "first",
    channels: Sequence[int] | None = None,
) -> list[FeatureMaps]:
    """Feature maps of ``layers`` (default: the default Grad-CAM layer) for ``image``.

    Per layer, ``count`` channels in index order (``order="first"``) or those with the
    largest mean activation (``order="most_active"``), or exactly ``channels``.
    """
    model = resolve(model)
    if layers is None:
        layers = [model.default_layer]
    elif isinstance(layers, str):
        layers = [layers]
    layers = list(dict.fromkeys(layers))
    if not 1 <= len(layers) <= MAX_LAYERS:
        raise ParameterError(f"Ask for between 1 and {MAX_LAYERS} layers at a time.")
    for name in layers:
        model.feature_layer(name)
    if channels is not None:
        if isinstance(channels, (str, bytes)) or not hasattr(channels, "__len__"):
            channels = [channels]
        if not 1 <= len(channels) <= MAX_CHANNELS:
            raise ParameterError(f"Ask for between 1 and {MAX_CHANNELS} channels at a time.")
    prepared = prepare(model, image)
    outputs = compiled.activations(model, tuple(layers))(prepared.batch)
    result = []
    for name, output in zip(layers, outputs):
        values = output.numpy()[0]
        mean = values.mean(axis=(0, 1))
        chosen = _select(mean, count, order, channels)
        result.append(
            FeatureMaps(
                model=model.name,
                layer=name,
                maps=np.ascontiguousarray(values[..., chosen].transpose(2, 0, 1), np.float32),
                channels=chosen,
                mean_activation=mean.astype(np.float32),
                shape=tuple(values.shape),
            )
        )
    return result
