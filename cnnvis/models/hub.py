"""keras-hub image classifiers (CNNs and vision transformers) as cnnvis models.

A keras-hub ``ImageClassifier`` is a functional Keras model (its backbone nested inside)
plus a preprocessor whose image converter resizes and then applies ``x * scale + offset``
per channel: exactly a :class:`~cnnvis.models.preprocessing.Preprocessing`, so gradients
are taken with respect to raw RGB pixels as for every other model. Transformer encoders
are opened block by block by :mod:`cnnvis.models.blocks`.

Names: a preset is ``"keras_hub:<preset>"`` (``"keras_hub:vit_base_patch16_224_imagenet"``).
The prefix keeps hub presets apart from the 40 ``keras.applications`` names (keras-hub has
its own ``resnet_50_imagenet``, a different network from ``ResNet50``) and says where the
weights come from; it is the same spelling as the package (``import keras_hub``).

keras-hub is an extra (``pip install "cnnvis[hub]"``): without it the catalogue is still
listed (it is read from ``data/hub_presets.tsv``), and loading a hub model raises one
sentence that says what to install. Downloading a preset needs the network (Kaggle);
:func:`in_local_cache` says whether a preset is already on this machine.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
import numpy as np

from ..errors import ParameterError, UnknownModelError, WeightsUnavailableError, quoted
from .preprocessing import Preprocessing

PREFIX = "keras_hub:"
EXTRA = 'pip install "cnnvis[hub]"'
_TABLE = Path(__file__).with_name("data") / "hub_presets.tsv"
BYTES_PER_PARAMETER = 4  # presets are stored as float32 weights


@dataclass(frozen=True)
class HubSpec:
    """One ImageNet-1k classifier preset of keras-hub (see ``data/hub_presets.tsv``)."""

    preset: str
    architecture: str  # keras-hub's model directory: "vit", "deit", "swin_transformer", ...
    input_size: int
    parameters: int  # the backbone's, as keras-hub's preset metadata gives it

    @property
    def name(self) -> str:
        return PREFIX + self.preset

    @property
    def download_bytes(self) -> int:
        """About the size of the download: the parameters as float32 (the head adds ~1 %)."""
        return self.parameters * BYTES_PER_PARAMETER

    @property
    def megabytes(self) -> float:
        return self.download_bytes / 2**20

    @property
    def transformer(self) -> bool:
        return self.architecture in ("vit", "deit", "swin_transformer")


@functools.lru_cache(maxsize=1)
def catalogue() -> dict[str, HubSpec]:
    """The ImageNet-1k classifier presets, by cnnvis name (``"keras_hub:<preset>"``)."""
    with open(_TABLE, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    specs = [
        HubSpec(row["preset"], row["architecture"], int(row["input_size"]), int(row["parameters"]))
        for row in rows
    ]
    return {spec.name: spec for spec in specs}


def is_hub_name(name: object) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def installed() -> bool:
    """Whether keras-hub can be imported here."""
    return importlib.util.find_spec("keras_hub") is not None


def require() -> None:
    if not installed():
        raise UnknownModelError(
            f"keras-hub models need the keras-hub package, which is not installed here: {EXTRA}."
        )


def get_hub_spec(name: str) -> HubSpec:
    try:
        return catalogue()[name]
    except KeyError:
        raise UnknownModelError(
            f"There is no keras-hub ImageNet classifier preset called {quoted(name[len(PREFIX):])}; "
            "cnnvis.list_models(hub=True) lists them."
        ) from None


def is_hub_classifier(model: object) -> bool:
    """A keras-hub ``ImageClassifier`` (checked by class, without importing keras-hub)."""
    return any(
        cls.__name__ == "ImageClassifier" and cls.__module__.startswith("keras_hub")
        for cls in type(model).__mro__
    )


def _per_channel(value, default: float) -> tuple[float, float, float]:
    if value is None:
        return (default,) * 3
    values = np.asarray(value, np.float64).reshape(-1)
    if values.size == 1:
        return (float(values[0]),) * 3
    if values.size == 3:
        return tuple(float(v) for v in values)  # type: ignore[return-value]
    raise ParameterError("The keras-hub image converter's scale and offset must have 1 or 3 values.")


def preprocessing_of(classifier, name: str = "keras-hub") -> Preprocessing | None:
    """The classifier's own preprocessing (its image converter's ``scale`` and ``offset``,
    on RGB pixels 0-255), or ``None`` when it has no preprocessor."""
    converter = getattr(getattr(classifier, "preprocessor", None), "image_converter", None)
    if converter is None:
        return None
    scale = _per_channel(getattr(converter, "scale", None), 1.0)
    offset = _per_channel(getattr(converter, "offset", None), 0.0)
    return Preprocessing(
        name,
        scale=scale,
        offset=offset,
        description=f"the preset's own: x * {np.round(scale, 5).tolist()} + {np.round(offset, 5).tolist()}",
    )


def classifier_preprocessing(classifier, preprocessing=None, name: str = "keras-hub") -> Preprocessing:
    """The preprocessing to use for a keras-hub ``ImageClassifier``: ``preprocessing``
    when given, else the classifier's own (its image converter); a classifier built
    without a preprocessor needs one."""
    from .preprocessing import resolve

    if preprocessing is not None:
        return resolve(preprocessing)
    own = preprocessing_of(classifier, name)
    if own is None:
        raise ParameterError(
            "This keras-hub classifier has no preprocessor: pass its preprocessing to "
            "cnnvis.wrap_model (a family name such as 'tf', or a cnnvis.Preprocessing)."
        )
    return own


def in_local_cache(preset: str) -> bool:
    """Whether keras-hub's Kaggle download of ``preset`` is already on this machine
    (``$KAGGLEHUB_CACHE``, default ``~/.cache/kagglehub``)."""
    root = Path(os.environ.get("KAGGLEHUB_CACHE", Path.home() / ".cache" / "kagglehub"))
    folder = root / "models" / "keras"
    return folder.is_dir() and any(folder.glob(f"*/keras/{preset}/*/config.json"))


def hub_models() -> list[HubSpec]:
    """keras-hub's ImageNet-1k classifier presets: name, architecture, input size,
    parameters and (about) the download size, whether or not keras-hub is installed."""
    return list(catalogue().values())


def status_tag(spec: HubSpec) -> str:
    """What a hub model needs here, in a few words, as the app's model picker says it."""
    if not installed():
        return "needs keras-hub"
    if in_local_cache(spec.preset):
        return "ready"
    from .availability import offline

    if offline():
        return "unavailable offline"
    return f"to download, {spec.megabytes:,.0f} MB"


def build_classifier(spec: HubSpec, load_weights: bool = True):
    """``keras_hub.models.ImageClassifier.from_preset`` (the network, unless cached);
    ``load_weights=False``: the preset's architecture with random weights."""
    require()
    from .availability import OFFLINE_ENV, offline

    if offline() and not in_local_cache(spec.preset):
        raise WeightsUnavailableError(
            f"The keras-hub preset {spec.preset} is not on this machine and downloads are off "
            f"here (${OFFLINE_ENV}); load it once where the network is reachable."
        )
    import keras_hub

    try:
        return keras_hub.models.ImageClassifier.from_preset(spec.preset, load_weights=load_weights)
    except Exception as error:  # network, Kaggle or file errors
        if isinstance(error, MemoryError):
            raise
        raise WeightsUnavailableError(
            f"The keras-hub preset {spec.preset} could not be loaded ({type(error).__name__}): "
            "it is downloaded from Kaggle on first use, so this machine needs the network once."
        ) from None
