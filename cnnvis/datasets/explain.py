"""What a dataset run computes, and the explainer that computes it for a batch.

:class:`ExplainSettings` is plain data (it travels to Ray actors and into run.json);
:class:`Explainer` holds the loaded model and turns a batch of decoded photos into rows
(:class:`~cnnvis.datasets.parquet.Row`) with :mod:`cnnvis.datasets.batched`. Both engines
(:mod:`cnnvis.datasets.run` on this machine, :mod:`cnnvis.datasets.ray_engine` on Ray) run
this same explainer, so they give the same rows.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from ..errors import ParameterError
from ..models.loading import VisModel
from ..registry import SEED_MAX
from .batched import BATCHED, implementation
from .choices import MAX_METHODS, check_names
from .decode import Decoded, stack_pixels
from .files import stored_name
from .parquet import PNG, Row
from .source import ModelSource

DEFAULT_BATCH = 16
MAX_DATASET_BATCH = 256  # images per batch (compiled calls are further capped by memory)
MAX_MAP_SIDE = 1024
MIN_MAP_SIDE = 4


def map_methods() -> dict:
    """The registry's heatmap and attribution techniques (the choices of ``--methods``)."""
    from .. import techniques  # noqa: F401 - imported: every map method is registered
    from ..registry import map_methods as registered

    return registered()


def _version() -> str:
    from ..version import __version__

    return __version__


def _check_int(name: str, value, low: int, high: int) -> int:
    from ..registry import check_int

    return check_int(name, value, low, high)


@dataclass(frozen=True)
class ExplainSettings:
    """What a run computes; plain data, so that it travels to Ray actors and run.json."""

    source: ModelSource | None  # None: a model object given in Python (local engine only)
    methods: tuple[str, ...] = ("grad_cam",)
    options: Mapping[str, Mapping] = field(default_factory=dict)  # method -> {option: value}
    layer: str | None = None
    target_class: int | str | None = None  # None: each image's top class
    seed: int = 0
    map_size: int | None = None  # None: the model's input size
    batch_size: int = DEFAULT_BATCH
    png: bool = False

    def checked(self) -> "ExplainSettings":
        """The settings with every name and bound checked, or a ParameterError."""
        available = map_methods()
        table = {name: implementation_of(name).options for name in available}
        methods = check_names(self.methods, self.options, table)
        options = {}
        for name, values in dict(self.options or {}).items():
            checked = {}
            for key, value in values.items():
                checked[key] = available[name].option(key).check(value)  # its declared bounds
            options[name] = checked
        return ExplainSettings(
            source=self.source,
            methods=methods,
            options=options,
            layer=self.layer or None,
            target_class=self.target_class,
            seed=_check_int("seed", self.seed, 0, SEED_MAX),
            map_size=None
            if self.map_size is None
            else _check_int("map_size", self.map_size, MIN_MAP_SIDE, MAX_MAP_SIDE),
            batch_size=_check_int("batch_size", self.batch_size, 1, MAX_DATASET_BATCH),
            png=bool(self.png),
        )

    def to_dict(self) -> dict:
        values = asdict(self)
        values["source"] = self.source.to_dict() if self.source is not None else None
        values["methods"] = list(self.methods)
        values["options"] = {k: dict(v) for k, v in self.options.items()}
        return values

    @classmethod
    def from_dict(cls, values: Mapping) -> "ExplainSettings":
        values = dict(values)
        source = values.pop("source")
        return cls(
            source=ModelSource.from_dict(source) if source is not None else None,
            methods=tuple(values.pop("methods")),
            **values,
        )


def implementation_of(name: str):
    return implementation(name, map_methods()[name])


class Explainer:
    """A loaded model and its methods: maps for a batch of decoded photos.

    Built once per process (the local engine) or per Ray actor; the model's compiled
    functions are traced on the first batch and reused for every later one.
    """

    def __init__(self, settings: ExplainSettings, model: VisModel | None = None) -> None:
        self.settings = settings
        self.model = model if model is not None else settings.source.load()
        height, width = self.model.input_size
        if height is None or width is None:
            raise ParameterError(
                f"{self.model.name} takes inputs of any size; a dataset run needs a model "
                "with a fixed input size (photos are batched at that size)."
            )
        self.input_size = (int(height), int(width))
        side = settings.map_size
        self.map_shape = (side, side) if side is not None else self.input_size
        self.class_index = (
            None if settings.target_class is None else self.model.resolve_class(settings.target_class)
        )
        techniques = map_methods()
        self.implementations = {name: implementation_of(name) for name in settings.methods}
        self.outputs = {name: techniques[name].output for name in settings.methods}
        self.layers: dict[str, str | None] = {}
        for name, impl in self.implementations.items():
            layer = settings.layer if impl.uses_layer else None
            if impl.uses_layer and name in BATCHED:  # the CAM layer: default, and checked
                layer = layer or self.model.default_layer
                self.model.feature_layer(layer)  # UnknownLayerError, one sentence
            self.layers[name] = layer
        self.version = _version()
        self.weights = str(self.model.weights)
        self.params = {name: self._params(name) for name in settings.methods}

    def _params(self, method: str) -> str:
        s = self.settings
        values = {
            "class": "top" if self.class_index is None else self.class_index,
            "layer": self.layers[method],
            "map_size": list(self.map_shape),
            "options": dict(s.options.get(method, {})),
            "seed": s.seed,
        }
        return json.dumps(values, sort_keys=True, default=str)

    # ----- computing ---------------------------------------------------------------
    def batch(self, items: Sequence[Decoded], classes: np.ndarray | None = None):
        from .batched import Batch

        if classes is None:
            index = -1 if self.class_index is None else self.class_index
            classes = np.full(len(items), index, np.int32)
        return Batch(
            self.model,
            stack_pixels(items),
            np.asarray(classes, np.int32),
            np.array([item.seed for item in items], np.int64),
        )

    def raw_maps(self, batch, method: str):
        """The method's :class:`~cnnvis.datasets.batched.RawMap` for every image of ``batch``."""
        impl = self.implementations[method]
        return impl.compute(batch, self.layers[method], self.settings.options.get(method, {}))

    def explain(
        self,
        items: Sequence[Decoded],
        wanted: Sequence[set[str]] | None = None,
        out_dir: str | None = None,
        on_image: Callable[[], None] | None = None,
    ) -> list[Row]:
        """Rows for ``items`` (each image's methods in the run's order); ``wanted[i]``:
        the methods image ``i`` still needs (``--resume``), default all. ``on_image`` is
        called once per image as soon as its last row is made (a progress bar's step)."""
        if not items:
            return []
        methods = self.settings.methods
        per_image: list[dict[str, Row]] = [{} for _ in items]
        left = [len(methods) if wanted is None else len(set(methods) & set(wanted[i])) for i in range(len(items))]
        for method in methods:
            chosen = [i for i in range(len(items)) if wanted is None or method in wanted[i]]
            if not chosen:
                continue
            subset = [items[i] for i in chosen]
            for i, item, raw in zip(chosen, subset, self.raw_maps(self.batch(subset), method)):
                per_image[i][method] = self._row(item, method, raw, out_dir)
                left[i] -= 1
                if left[i] == 0 and on_image is not None:
                    on_image()
        return [row for rows in per_image for method, row in rows.items()]

    def _row(self, item: Decoded, method: str, raw, out_dir: str | None) -> Row:
        from ..maps import saliency_map

        png = self._write_png(item, method, raw, out_dir) if self.settings.png and out_dir else None
        return Row(
            path=stored_name(item.path),
            sha256=item.sha256,
            image_height=item.image_size[0],
            image_width=item.image_size[1],
            model=self.model.name,
            weights=self.weights,
            method=method,
            output=self.outputs[method],
            layer=raw.layer if raw.layer is not None else self.layers[method],
            class_index=raw.class_index,
            label=self.model.class_label(raw.class_index),
            probability=raw.probability,
            logit=raw.logit,
            map=saliency_map(raw.at(self.map_shape)),
            seed=item.seed,
            params=self.params[method],
            png=png,
            cnnvis_version=self.version,
        )

    def _write_png(self, item: Decoded, method: str, raw, out_dir: str) -> str:
        """The overlay (heatmaps) or the signed attribution picture, at the photo's
        size up to 1024 pixels on the longer side; returns its path inside ``out_dir``."""
        import hashlib

        from PIL import Image

        from .. import render
        from ..images import fit_within, load_image
        from .decode import PREVIEW_SIDE, read_bytes

        if item.preview is not None:
            photo = item.preview
        else:  # the Ray engine keeps no preview: read the photo again, the same safe way
            photo = fit_within(load_image(read_bytes(item.path)), PREVIEW_SIDE)
        values = raw.at(photo.shape[:2])
        if raw.output == "heatmap":
            picture = render.overlay(photo, values)
        else:
            picture = render.gradient_image(values)
        # The picture's name: the photo's, with anything but letters, digits, "." and "-"
        # made "_" (no control character or undecodable byte reaches a file name), and a
        # tag of the full path, so that photos of the same name in two folders differ.
        stem = re.sub(r"[^\w.-]", "_", os.path.splitext(os.path.basename(item.path))[0])[:80]
        tag = hashlib.sha256(os.fsencode(item.path)).hexdigest()[:8]
        relative = os.path.join(PNG, method, f"{stem}-{tag}.png")
        target = os.path.join(out_dir, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        Image.fromarray(picture).save(target)
        return relative


__all__ = ["ExplainSettings", "Explainer", "map_methods"]
