"""Deep Dream: amplify what chosen layers see, octave by octave.

Mordvintsev, Olah & Tyka 2015 ("Inceptionism"), following the keras.io recipe: gradient
ascent on the weighted mean square activation of a few layers, over octaves of scale
1.4 (smallest first), re-injecting the detail lost by shrinking after each octave. The
model runs headless (the walk stops at the deepest chosen layer), so any image size
works. The image lives in the model's input space and is de-processed with the exact
inverse of the family's preprocessing; random jitter (seeded) makes results
reproducible and free of grid artefacts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from ..errors import ParameterError
from ..images import fit_within, resize_image
from ..models.loading import VisModel
from ..registry import SEED_MAX, Option, checks, technique
from . import compiled
from .base import Displayed, as_image, check_float, resolve

MIN_OCTAVE_SIDE = 32
MAX_OCTAVES, MAX_STEPS = 8, 200
MAX_LAYERS = 8  # layers one dream may excite
MAX_SIDE = 1024  # the dream's longest side (memory grows with the pixels of each step)
# Work one call may ask for: octaves x steps at 512 px on the longer side (more pixels
# count proportionally more). The app's sliders stay below it (5 x 50).
MAX_WORK = 400

OPTIONS = (
    Option(
        "octaves",
        int,
        3,
        "Octaves (scales, smallest first)",
        "How many scales the dream grows over, each 1.4 times the last.",
        low=1,
        high=MAX_OCTAVES,
        app_range=(1, 5, 1),
    ),
    Option(
        "octave_scale",
        float,
        1.4,
        "Octave scale",
        "The size ratio between two octaves (1.4 in the original).",
        low=1.05,
        high=2.5,
        in_app=False,
    ),
    Option(
        "steps",
        int,
        20,
        "Steps per octave",
        "Gradient-ascent steps at each scale.",
        low=1,
        high=MAX_STEPS,
        app_range=(1, 50, 1),
    ),
    Option(
        "step_size",
        float,
        0.01,
        "Step size",
        "How far each step moves the pixels (a fraction of half the pixel range).",
        low=1e-5,
        high=1.0,
        app_range=(0.001, 0.1, 0.001),
    ),
    Option(
        "max_loss",
        float,
        None,
        "Largest loss",
        "Stop an octave early once the loss passes this value.",
        low=0.0,
        high=1e6,
        none="no limit",
        in_app=False,
    ),
    Option(
        "jitter",
        int,
        16,
        "Jitter",
        "Pixels the image is shifted at random before each step (seeded).",
        low=0,
        high=256,
        in_app=False,
    ),
    Option(
        "max_side",
        int,
        512,
        "Largest side",
        "The photo is shrunk to this longest side before dreaming.",
        low=MIN_OCTAVE_SIDE,
        high=MAX_SIDE,
        in_app=False,
    ),
    Option(
        "seed",
        int,
        0,
        "Seed (same seed, same dream)",
        "The random seed of the jitter.",
        low=0,
        high=SEED_MAX,
    ),
    Option(
        "every",
        int,
        1,
        "Frames every",
        "Steps between two intermediate pictures.",
        low=1,
        high=1000,
        in_app=False,
    ),
)


@dataclass(frozen=True)
class DreamFrame(Displayed):
    """One intermediate (or the final) dream image."""

    image: np.ndarray  # float32 H x W x 3 RGB in [0, 255] at this octave's size
    octave: int  # 1-based
    octaves: int
    step: int  # 1-based within the octave
    steps: int
    loss: float
    result: "Dream | None" = None  # set on the final frame only
    stopped: bool = False  # the last frame of a run that ``stop`` ended early

    @property
    def final(self) -> bool:
        return self.result is not None

    @property
    def where(self) -> str:
        """Where the run is (or stopped): "octave 3/5, step 12/50"."""
        return f"octave {self.octave}/{self.octaves}, step {self.step}/{self.steps}"

    @property
    def progress(self) -> float:
        return ((self.octave - 1) * self.steps + self.step) / (self.octaves * self.steps)


@dataclass(frozen=True)
class Dream(Displayed):
    """The finished dream and how it was made."""

    image: np.ndarray  # float32 H x W x 3 RGB in [0, 255]
    model: str
    layers: tuple[str, ...]
    layer_weights: tuple[float, ...]
    losses: tuple[float, ...]  # the objective at every step, in order
    octave_shapes: tuple[tuple[int, int], ...]

    @property
    def caption(self) -> str:
        return f"Deep Dream · {self.model} · {', '.join(self.layers)}"


def octave_shapes(height: int, width: int, octaves: int, scale: float) -> list[tuple[int, int]]:
    """Image sizes from the smallest octave to the original, skipping sizes too small."""
    shapes = [
        (int(round(height / scale**i)), int(round(width / scale**i))) for i in range(octaves)
    ]
    shapes = [s for s in shapes if min(s) >= MIN_OCTAVE_SIDE] or [(height, width)]
    return shapes[::-1]


def _weights(layers: Sequence[str], layer_weights: Sequence[float] | None, default: bool) -> np.ndarray:
    if layer_weights is None:
        # Deeper layers count more, as in the keras.io example (1.0 ... 2.5).
        values = np.linspace(1.0, 2.5, len(layers)) if default and len(layers) > 1 else np.ones(len(layers))
    else:
        if len(layer_weights) != len(layers):
            raise ParameterError("Give one weight per Deep Dream layer.")
        values = np.array([check_float("layer weight", w, -10.0, 10.0) for w in layer_weights])
    return values.astype(np.float32)


@checks(OPTIONS)
def deep_dream_frames(
    model: VisModel | str,
    image,
    *,
    layers: Sequence[str] | None = None,
    layer_weights: Sequence[float] | None = None,
    octaves: int = 3,
    octave_scale: float = 1.4,
    steps: int = 20,
    step_size: float = 0.01,
    max_loss: float | None = None,
    jitter: int = 16,
    max_side: int = 512,
    seed: int = 0,
    every: int = 1,
    stop: Callable[[], bool] | None = None,
) -> Iterator[DreamFrame]:
    """Yield intermediate dream images (every ``every`` steps and at each octave's end);
    the last frame has ``final=True`` and the full-size result.

    ``step_size`` is in keras.io units: a fraction of half the pixel range per step
    (0.01 moves pixels by about 1.3 grey levels per step), the same for every family.
    Stopping the iteration stops the computation; so does ``stop``, asked before every
    step: once it returns True the iteration ends with one more frame, marked
    ``stopped``, that holds the dream so far (at the current octave's size) and where it
    stopped, and no final result (an app's Stop button sets what ``stop`` reads).
    """
    model = resolve(model)
    default_layers = layers is None
    if isinstance(layers, str):
        layers = [layers]
    try:
        layers = tuple(model.dream_layers if layers is None else layers)
    except TypeError:
        raise ParameterError("Give the Deep Dream layers as a list of layer names.") from None
    if not 1 <= len(layers) <= MAX_LAYERS:
        raise ParameterError(f"Choose between 1 and {MAX_LAYERS} Deep Dream layers.")
    for name in layers:
        model.feature_layer(name)
    weights = _weights(layers, layer_weights, default_layers)

    pre = model.preprocessing
    photo = fit_within(as_image(image), max_side).astype(np.float32)
    size = photo.shape[:2]
    if min(size) < MIN_OCTAVE_SIDE:
        # A tiny or very thin photo: dream on it enlarged to the smallest size every
        # network takes (the step pads by reflection to a multiple of 32), then shrink.
        scale = MIN_OCTAVE_SIDE / min(size)
        photo = resize_image(photo, tuple(max(MIN_OCTAVE_SIDE, round(n * scale)) for n in size))
    height, width = photo.shape[:2]
    if octaves * steps * max(1.0, height * width / 512**2) > MAX_WORK:
        raise ParameterError(
            f"{octaves} octaves x {steps} steps on a {width} x {height} picture is too much "
            f"work for one call; up to 512 x 512 pixels, octaves x steps may be at most {MAX_WORK}."
        )
    original = pre.apply(photo)
    shapes = octave_shapes(*original.shape[:2], octaves, octave_scale)
    step = (step_size * 127.5 * pre.units_per_pixel()).astype(np.float32)
    low, high = (b.astype(np.float32) for b in pre.pixel_bounds())
    fn = compiled.dream_step(model, layers)
    rng = np.random.default_rng(seed)
    losses: list[float] = []

    shrunk = resize_image(original, shapes[0])
    dream = shrunk.copy()
    for octave, shape in enumerate(shapes, start=1):
        if dream.shape[:2] != shape:
            dream = resize_image(dream, shape)
        loss = float("nan")
        for index in range(1, steps + 1):
            if stop is not None and stop():
                done = index - 1
                yield DreamFrame(
                    _deprocess(pre, dream), octave, len(shapes), done, steps, loss, stopped=True
                )
                return
            shift = rng.integers(-jitter, jitter + 1, size=2).astype(np.int32) if jitter else np.zeros(2, np.int32)
            loss_tensor, stepped = fn(dream[None], weights, step, shift, low, high)
            loss = float(loss_tensor.numpy())
            losses.append(loss)
            if max_loss is not None and loss > max_loss:
                break  # as in keras.io: the step that would exceed max_loss is not taken
            dream = stepped.numpy()[0]
            if index % every == 0 and index < steps:
                yield DreamFrame(_deprocess(pre, dream), octave, len(shapes), index, steps, loss)
        # Re-inject the detail that shrinking the original lost at this size.
        upscaled = resize_image(shrunk, shape)
        same_size = resize_image(original, shape)
        dream = np.clip(dream + (same_size - upscaled), low, high)
        shrunk = same_size
        result = None
        if octave == len(shapes):
            if dream.shape[:2] != size:
                dream = resize_image(dream, size)
            result = Dream(
                image=_deprocess(pre, dream),
                model=model.name,
                layers=layers,
                layer_weights=tuple(float(w) for w in weights),
                losses=tuple(losses),
                octave_shapes=tuple(shapes),
            )
        yield DreamFrame(_deprocess(pre, dream), octave, len(shapes), steps, steps, loss, result)


def _deprocess(pre, dream: np.ndarray) -> np.ndarray:
    return np.clip(pre.invert(dream), 0.0, 255.0).astype(np.float32)


@technique(
    title="Deep Dream",
    output="image",
    paper="Mordvintsev, Olah & Tyka 2015",
    summary="The photo changed step by step to excite chosen layers more and more, over "
    "several scales: the patterns the network looks for appear in it.",
    cost="long",
    options=OPTIONS,
    own_tab=True,
    work=f"octaves x steps <= {MAX_WORK} up to 512 x 512 pixels, proportionally less above",
)
def deep_dream(model: VisModel | str, image, **params) -> Dream:
    """The finished Deep Dream (see :func:`deep_dream_frames` for the parameters)."""
    params["every"] = 10**3  # no intermediate frames needed
    for frame in deep_dream_frames(model, image, **params):
        if frame.result is not None:
            return frame.result
    raise AssertionError("deep_dream_frames ended without a final frame")
