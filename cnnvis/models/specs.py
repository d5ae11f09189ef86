"""What cnnvis knows about each ``keras.applications`` model: its constructor, native input
size and preprocessing family (Keras' own documentation), by name."""

from __future__ import annotations

import contextlib
import importlib
from dataclasses import dataclass
from typing import Callable

import keras

from ..errors import UnknownModelError, quoted
from . import keras_compat
from .preprocessing import FAMILIES, Preprocessing


@dataclass(frozen=True)
class ModelSpec:
    """What cnnvis knows about one ``keras.applications`` model."""

    name: str
    input_size: int
    family: str
    dream_layers: tuple[str, ...] = ()  # empty: chosen from the graph (see dream_defaults)

    @property
    def constructor(self) -> Callable[..., keras.Model]:
        return getattr(keras.applications, self.name)

    @property
    def keras_module(self):
        """The public ``keras.applications.<module>`` with this model's ``preprocess_input``."""
        return importlib.import_module(
            keras_compat.public_module(self.constructor.__module__)
        )

    @property
    def preprocessing(self) -> Preprocessing:
        return FAMILIES[self.family]

    def build(self, weights: str | None = None) -> keras.Model:
        """A fresh Keras model with logits at the native input size."""
        with _fresh_layer_names():
            return self.constructor(
                weights=weights,
                input_shape=(self.input_size, self.input_size, 3),
                classifier_activation=None,
            )


def _specs(family: str, size: int, names: str, **extra) -> list[ModelSpec]:
    return [ModelSpec(name, size, family, **extra) for name in names.split()]


# The preprocessing family and native input size of every model (Keras' own docs).
REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        *_specs("caffe", 224, "VGG16 VGG19 ResNet50 ResNet101 ResNet152"),
        *_specs("tf", 224, "ResNet50V2 ResNet101V2 ResNet152V2 MobileNet MobileNetV2 NASNetMobile"),
        *_specs("tf", 299, "Xception InceptionResNetV2"),
        # The classic Deep Dream layers of the keras.io example.
        ModelSpec("InceptionV3", 299, "tf", ("mixed4", "mixed5", "mixed6", "mixed7")),
        *_specs("tf", 331, "NASNetLarge"),
        *_specs("torch", 224, "DenseNet121 DenseNet169 DenseNet201"),
        *_specs("none", 224, "MobileNetV3Small MobileNetV3Large EfficientNetB0 EfficientNetV2B0"),
        *_specs("none", 224, "ConvNeXtTiny ConvNeXtSmall ConvNeXtBase ConvNeXtLarge ConvNeXtXLarge"),
        *_specs("none", 240, "EfficientNetB1 EfficientNetV2B1"),
        *_specs("none", 260, "EfficientNetB2 EfficientNetV2B2"),
        *_specs("none", 300, "EfficientNetB3 EfficientNetV2B3"),
        *_specs("none", 380, "EfficientNetB4"),
        *_specs("none", 456, "EfficientNetB5"),
        *_specs("none", 528, "EfficientNetB6"),
        *_specs("none", 600, "EfficientNetB7"),
        *_specs("none", 384, "EfficientNetV2S"),
        *_specs("none", 480, "EfficientNetV2M EfficientNetV2L"),
    ]
}


def list_models(hub: bool = False) -> list[str]:
    """Names of all registry models, in a stable order; with ``hub=True`` followed by
    keras-hub's ImageNet classifier presets (``"keras_hub:<preset>"``, see
    :func:`cnnvis.hub_models` for their input size, parameters and download size).

    The default stays the 40 ``keras.applications`` models (derived from Keras and built
    by the tests); hub presets need the ``hub`` extra and a download from Kaggle."""
    names = sorted(REGISTRY)
    if hub:
        from .hub import catalogue

        names += list(catalogue())
    return names


def get_spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        close = [n for n in REGISTRY if n.lower() == str(name).lower()]
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise UnknownModelError(
            f"There is no model called {quoted(name)}; choose one of the {len(REGISTRY)} models "
            f"from cnnvis.list_models().{hint}"
        ) from None


@contextlib.contextmanager
def _fresh_layer_names():
    """Build with Keras' automatic layer-name counters reset, then restore them.

    Auto-generated names (``activation_187`` on NASNet, ``add_17`` on ConvNeXt) come from
    a per-thread counter, so they would otherwise depend on what was built before; the
    API and the UI need the same names in every process.
    """
    with keras_compat.global_attribute_kept("object_name_uids", None):
        yield
