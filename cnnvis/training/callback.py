"""Explanations watched while a Keras model learns: :class:`ExplainCallback`.

At the end of every ``every``-th epoch of ``model.fit`` (and once before the first, so
there is something to compare with), the callback explains a fixed set of images with
the chosen map methods (Grad-CAM and friends, gradients: the registry's quick map
methods), using the training model itself:

- The model is wrapped once per ``fit`` with :func:`cnnvis.wrap_model`, which runs the
  model's own layers (a final softmax or sigmoid is bypassed by calling the layer before
  it, not by cloning), so every explanation reads the variables the optimiser has just
  updated: no copy of the model is made, per epoch or ever (except, when the trust report
  is asked for, the independent copy its sanity check randomises, Adebayo et al. 2018).
- Layers are called in inference mode (BatchNormalization uses its moving statistics,
  Dropout is off) and no variable is written, so training is unchanged; the global
  random states of Python and NumPy are restored after the callback's work, so the
  shuffling and the initialisers that training draws from them are unchanged too.
- Cost: per image one forward pass for the probabilities, and per method what that
  method costs (one forward and one backward pass for Grad-CAM, Grad-CAM++, LayerCAM,
  the gradient and gradient x input; one forward for Eigen-CAM; two for guided
  backprop and Guided Grad-CAM). The methods that take many passes (Score-CAM,
  occlusion, SmoothGrad, Integrated Gradients) are refused.

Written for epoch ``e`` (``e = 0``: before training) under ``folder``:
``epoch_{e:03d}/{image}_{method}.png`` (the map drawn as the app draws it: a heatmap over
the photo, an attribution's saliency in grey), ``epoch_{e:03d}/maps.npz`` (each map as
float32 H x W in [0, 1], keyed ``{image}/{method}``) and one line per image and method in
``explanations.jsonl`` (epoch, image, method, explained class, its probability, the
predicted class). With ``trust=True`` also the trust report per image
(``epoch_{e:03d}/{image}_trust.png`` and a line per method in ``trust.jsonl`` with its
verdict and reason). With ``log_dir`` (or a ``keras.callbacks.TensorBoard`` given as
``log_dir``) the pictures go to TensorBoard as image summaries under
``{log_dir}/explanations``, the probabilities as scalars and the verdicts as text.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import keras
import numpy as np

from .. import registry, render
from ..errors import ParameterError, quoted
from ..evaluation import metrics
from ..images import load_image
from ..models.loading import VisModel, wrap_model
from ..techniques import classification  # noqa: F401 - registers every technique

MAX_IMAGES = 16
MAX_METHODS = 8
MAX_TRUST_STEPS = 50


@contextmanager
def _random_states_kept() -> Iterator[None]:
    """Restore Python's and NumPy's global random states after the block: a Keras
    initialiser without a seed (the trust report's model copy) draws from Python's."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def _quick_methods(methods: Sequence[str] | str) -> list[str]:
    """Registry map methods, each a few passes per image; every refusal is one sentence."""
    chosen = list(registry.resolve_methods(methods, limit=MAX_METHODS))
    slow = [name for name in chosen if registry.TECHNIQUES[name].cost != "quick"]
    if slow:
        raise ParameterError(
            f"{quoted(slow[0])} takes many forward passes per image, too many for every "
            f"epoch; choose from {', '.join(registry.quick_map_methods())}."
        )
    return chosen


def _images(images: Any) -> list[np.ndarray]:
    """uint8 RGB photos from a batch array or a sequence of anything load_image takes."""
    if isinstance(images, np.ndarray) and images.ndim == 4:
        images = list(images)
    if isinstance(images, (str, os.PathLike, bytes)) or not isinstance(images, Sequence):
        raise ParameterError("images must be a list of images or an N x H x W x 3 array.")
    if not 1 <= len(images) <= MAX_IMAGES:
        raise ParameterError(f"Give between 1 and {MAX_IMAGES} images to explain; got {len(images)}.")
    return [load_image(image) for image in images]


def _names(names: Sequence[str] | None, count: int) -> list[str]:
    if names is None:
        return [f"image_{i}" for i in range(count)]
    names = [str(name) for name in names]
    if len(names) != count or len(set(names)) != count:
        raise ParameterError(f"Give {count} different names, one per image.")
    bad = [n for n in names if not n or any(c in n for c in '/\\:*?"<>|') or n.startswith(".")]
    if bad:
        raise ParameterError(f"{quoted(bad[0])} cannot be a file name; use letters, digits, - and _.")
    return names


def _targets(target_classes: Any, count: int) -> list[int | str | None]:
    """One class per image (None: the model's top class at that epoch)."""
    if target_classes is None or isinstance(target_classes, (str, int, np.integer)):
        return [target_classes] * count  # type: ignore[list-item]
    targets = list(target_classes)
    if len(targets) != count:
        raise ParameterError(f"Give one target class per image ({count}); got {len(targets)}.")
    return [int(t) if isinstance(t, np.integer) else t for t in targets]


class ExplainCallback(keras.callbacks.Callback):
    """Explain ``images`` at the end of epochs of ``model.fit`` (see the module).

    ``images``: up to 16 photos (an ``N x H x W x 3`` array or a list of anything
    :func:`cnnvis.load_image` takes), as raw RGB pixels 0-255; ``preprocessing`` maps
    them to the model's input, as in :func:`cnnvis.wrap_model` (``"0-1"`` for a model
    trained on pixels divided by 255). ``methods``: registry names of quick map methods.
    ``every``: explain after every ``every``-th epoch; ``at_start``: also before the
    first (written as epoch 0). ``target_classes``: one class (index or name) for every
    image, one per image, or None for the model's top class at each epoch.
    ``options``: keyword arguments per method (e.g. ``{"grad_cam": {"layer": "conv2"}}``).
    ``folder`` and ``log_dir``: where the results go (both optional; the latest are
    always in :attr:`latest` and the numbers of every epoch in :attr:`records`).
    ``trust``: also run :func:`cnnvis.trust_report` on each image (many forward passes:
    ``trust_steps`` deletion/insertion steps and ROAD, and a randomised copy of the model),
    with the verdicts written next to the maps.
    """

    def __init__(
        self,
        images: Any,
        methods: Sequence[str] | str = ("grad_cam",),
        *,
        every: int = 1,
        at_start: bool = True,
        folder: str | os.PathLike | None = None,
        log_dir: str | os.PathLike | keras.callbacks.TensorBoard | None = None,
        preprocessing: Any = "none",
        class_names: Sequence[str] | None = None,
        target_classes: Any = None,
        names: Sequence[str] | None = None,
        options: Mapping[str, Mapping[str, Any]] | None = None,
        trust: bool = False,
        trust_steps: int = 10,
        seed: int = 0,
        colormap: str = "jet",
    ) -> None:
        super().__init__()
        self.images = _images(images)
        self.methods = _quick_methods(methods)
        self.every = registry.check_int("every", every, 1, 1_000_000)
        self.at_start = bool(at_start)
        self.folder = Path(folder) if folder is not None else None
        if isinstance(log_dir, keras.callbacks.TensorBoard):
            log_dir = log_dir.log_dir
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.preprocessing = preprocessing
        self.class_names = class_names
        self.targets = _targets(target_classes, len(self.images))
        self.names = _names(names, len(self.images))
        self.options = {m: dict((options or {}).get(m, {})) for m in self.methods}
        unknown = set(options or {}) - set(self.methods)
        if unknown:
            raise ParameterError(f"options name {quoted(sorted(unknown)[0])}, which is not among the methods.")
        self.trust = bool(trust)
        self.trust_steps = registry.check_int("trust_steps", trust_steps, 2, MAX_TRUST_STEPS)
        self.seed = registry.check_int("seed", seed, 0, registry.SEED_MAX)
        self.colormap = render._get_cmap(colormap).name
        self.latest: dict[tuple[str, str], Any] = {}  # (image, method) -> the technique's result
        self.records: list[dict] = []  # one per epoch, image and method: the numbers
        self.verdicts: list[dict] = []  # one per epoch, image and method, with trust=True
        self._vis: VisModel | None = None
        self._writer = None

    # ----- Keras' hooks -------------------------------------------------------------------
    def on_train_begin(self, logs: Mapping | None = None) -> None:
        # Once per fit: the wrapper runs the training model's own layers and variables.
        self._vis = wrap_model(
            self.model, self.preprocessing, name=self.model.name, class_names=self.class_names
        )
        if self.log_dir is not None:
            import tensorflow as tf

            _check_tensorboard()
            self._writer = tf.summary.create_file_writer(str(self.log_dir / "explanations"))
        if self.at_start:
            self.explain(0)

    def on_epoch_end(self, epoch: int, logs: Mapping | None = None) -> None:
        if (epoch + 1) % self.every == 0:
            self.explain(epoch + 1)

    def on_train_end(self, logs: Mapping | None = None) -> None:
        if self._writer is not None:
            self._writer.close()
        self._vis, self._writer = None, None  # the compiled functions go with the wrapper

    # ----- the work -----------------------------------------------------------------------
    def explain(self, epoch: int) -> None:
        """Explain every image with every method now, and write the results as epoch
        ``epoch`` (called by the hooks; callable by hand inside a ``fit``)."""
        if self._vis is None:
            raise ParameterError("ExplainCallback explains during model.fit; call fit first.")
        with _random_states_kept():
            maps: dict[str, np.ndarray] = {}
            pictures: dict[str, np.ndarray] = {}
            for name, image, target in zip(self.names, self.images, self.targets):
                probabilities = self._vis.probabilities(classification.logits(self._vis, image))
                predicted = int(np.argmax(probabilities))
                for method in self.methods:
                    result = registry.TECHNIQUES[method].function(
                        self._vis, image, target_class=target, **self.options[method]
                    )
                    values = metrics.map_for(image.shape[:2], result)
                    klass = result.class_index if result.class_index is not None else predicted
                    self.latest[(name, method)] = result
                    maps[f"{name}/{method}"] = values
                    pictures[f"{name}_{method}"] = self._picture(method, image, values)
                    self.records.append(
                        {
                            "epoch": epoch,
                            "image": name,
                            "method": method,
                            "class_index": int(klass),
                            "label": self._vis.class_label(int(klass)),
                            "probability": float(probabilities[klass]),
                            "predicted": predicted,
                            "predicted_probability": float(probabilities[predicted]),
                        }
                    )
                if self.trust:
                    pictures[f"{name}_trust"] = self._trust(epoch, name, image, target)
            self._write(epoch, maps, pictures)

    def _picture(self, method: str, image: np.ndarray, values: np.ndarray) -> np.ndarray:
        if registry.TECHNIQUES[method].output == "heatmap":
            return render.overlay(image, values, alpha=0.5, cmap=self.colormap)
        return render.colorize(values, "gray")

    def _trust(self, epoch: int, name: str, image: np.ndarray, target) -> np.ndarray:
        from ..evaluation.trust import trust_report

        report = trust_report(
            self._vis, image, self.methods, target_class=target, seed=self.seed, steps=self.trust_steps
        )
        for m in report.methods:
            self.verdicts.append(
                {
                    "epoch": epoch,
                    "image": name,
                    "method": m.name,
                    "class_index": report.class_index,
                    "verdict": m.verdict,
                    "reason": m.reason,
                    "faithfulness": float(m.faithfulness),
                    "passed_sanity": bool(m.passed_sanity),
                }
            )
        return render.trust_chart(report.panels, title=f"{report.caption} · epoch {epoch}")

    def _write(self, epoch: int, maps: dict, pictures: dict) -> None:
        new = [r for r in self.records if r["epoch"] == epoch]
        verdicts = [v for v in self.verdicts if v["epoch"] == epoch]
        if self.folder is not None:
            here = self.folder / f"epoch_{epoch:03d}"
            here.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(here / "maps.npz", **maps)
            for stem, picture in pictures.items():
                from PIL import Image

                Image.fromarray(picture).save(here / f"{stem}.png")
            _append_lines(self.folder / "explanations.jsonl", new)
            if verdicts:
                _append_lines(self.folder / "trust.jsonl", verdicts)
        if self._writer is not None:
            import tensorflow as tf

            with self._writer.as_default(step=epoch):
                for stem, picture in pictures.items():
                    tf.summary.image(stem, picture[None])
                for r in new:
                    tf.summary.scalar(f"{r['image']}/probability", r["probability"])
                for v in verdicts:
                    tf.summary.text(f"{v['image']}/{v['method']}/verdict", f"{v['verdict']}: {v['reason']}")
            self._writer.flush()


def _check_tensorboard() -> None:
    """TensorFlow's image summaries are implemented by the tensorboard package."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise ParameterError(
            "Writing to TensorBoard needs the tensorboard package: pip install tensorboard "
            "(or leave log_dir out)."
        ) from None


def _append_lines(path: Path, rows: Sequence[dict]) -> None:
    with path.open("a", encoding="utf-8") as file:
        for row in rows:
            file.write(json.dumps(row) + "\n")
