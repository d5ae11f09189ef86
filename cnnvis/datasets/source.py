"""Where a dataset run's model comes from, in a form that can travel to a Ray worker.

A :class:`ModelSource` is plain data (names and paths): the driver validates it, the
local engine and every Ray actor load the model from it with the same rules as
:func:`cnnvis.load_model` (a registry name with ``"imagenet"`` weights, random weights
or a weights file, looking in the weights directory or ``$CNNVIS_WEIGHTS_DIR`` first),
or a saved Keras model file (``.keras``) with its preprocessing family.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ParameterError, WeightsUnavailableError, quoted

MODEL_FILE_EXTENSIONS = (".keras",)
WEIGHTS_CHOICES = ("imagenet", "random")


def is_model_file(name: str) -> bool:
    return os.path.splitext(str(name))[1].lower() in MODEL_FILE_EXTENSIONS


@dataclass(frozen=True)
class ModelSource:
    """A registry model with its weights, or a saved Keras model file."""

    model: str  # a registry name, or the absolute path of a .keras file
    weights: str = "imagenet"  # "imagenet", "random" or the absolute path of a weights file
    weights_dir: str | None = None  # absolute: the argument, else $CNNVIS_WEIGHTS_DIR
    preprocessing: str | None = None  # a family name, for a .keras file only

    @classmethod
    def parse(
        cls,
        model: str,
        weights: str | os.PathLike | None = "imagenet",
        *,
        weights_dir: str | os.PathLike | None = None,
        preprocessing: str | None = None,
    ) -> "ModelSource":
        """Check the names now (before any work starts); paths are made absolute."""
        from ..models.preprocessing import FAMILIES

        model = os.fspath(model)
        from ..models.loading import resolve_weights_dir

        # Resolved here, once: a Ray worker may not share the driver's environment.
        resolved = resolve_weights_dir(weights_dir)
        directory = str(resolved.absolute()) if resolved is not None else None
        if directory is not None and not os.path.isdir(directory):
            raise ParameterError(f"The weights folder {quoted(resolved)} does not exist.")
        if is_model_file(model):
            path = os.path.abspath(os.path.expanduser(model))
            if not os.path.isfile(path):
                raise ParameterError(f"The model file {quoted(os.path.basename(path))} does not exist.")
            if weights not in (None, "imagenet"):
                raise ParameterError("--weights is for registry models; a model file holds its own weights.")
            if preprocessing is None:
                raise ParameterError(
                    "A model file needs its preprocessing: --preprocessing "
                    + "|".join(sorted(FAMILIES))
                    + " (how raw 0-255 RGB pixels become the model's input)."
                )
            if preprocessing not in FAMILIES:
                raise ParameterError(
                    f"The preprocessing must be one of {', '.join(sorted(FAMILIES))}; "
                    f"got {quoted(preprocessing)}."
                )
            return cls(path, "file", None, preprocessing)
        from ..models import hub
        from ..models.loading import get_spec

        if hub.is_hub_name(model):  # a keras-hub preset: its own weights, or random ones
            hub.get_hub_spec(model)
            hub.require()
            if weights not in (None, "imagenet", "random"):
                raise ParameterError("--weights for a keras-hub preset is imagenet or random.")
        else:
            get_spec(model)  # UnknownModelError, with a suggestion
        if preprocessing is not None:
            raise ParameterError(
                "--preprocessing is only for a model file; registry models know their own."
            )
        if weights is None:
            weights = "random"
        weights = os.fspath(weights)
        if weights not in WEIGHTS_CHOICES:
            path = os.path.abspath(os.path.expanduser(weights))
            if not os.path.isfile(path):
                raise WeightsUnavailableError(
                    f"The weights file {quoted(os.path.basename(path))} does not exist "
                    "(--weights takes imagenet, random or a weights file)."
                )
            weights = path
        return cls(model, weights, directory, None)

    @property
    def is_file(self) -> bool:
        return self.weights == "file"

    @property
    def name(self) -> str:
        """The model's name on every row: the registry name, or the file's stem."""
        return Path(self.model).stem if self.is_file else self.model

    def load(self):
        """The :class:`~cnnvis.models.loading.VisModel` (cached like :func:`cnnvis.load_model`)."""
        from ..models.loading import MODEL_CACHE, load_model

        if not self.is_file:
            weights = None if self.weights == "random" else self.weights
            return load_model(self.model, weights, weights_dir=self.weights_dir)
        stat = os.stat(self.model)
        key = ("file", self.model, stat.st_mtime_ns, stat.st_size, self.preprocessing)
        return MODEL_CACHE.get(key, self._load_file)

    def _load_file(self):
        import keras

        from ..models.loading import wrap_model

        try:
            keras_model = keras.models.load_model(self.model, compile=False, safe_mode=True)
        except Exception as error:  # noqa: BLE001 - any failure means "not a usable model file"
            raise WeightsUnavailableError(
                f"The model file {quoted(os.path.basename(self.model))} could not be loaded "
                f"as a Keras model ({type(error).__name__})."
            ) from None
        return wrap_model(keras_model, self.preprocessing, name=self.name)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ModelSource":
        return cls(**values)


__all__ = ["ModelSource", "is_model_file"]
