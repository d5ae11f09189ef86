"""cnnvis: look inside the ImageNet CNNs of keras.applications.

    import cnnvis
    model = cnnvis.load_model("MobileNetV2")          # ImageNet weights, logits
    image = cnnvis.load_image("examples/cat.jpg")     # uint8 RGB H x W x 3
    cnnvis.classify(model, image)                     # top-5 predictions
    cam = cnnvis.grad_cam(model, image)               # heatmap in [0, 1] at the image's size
    picture = cnnvis.render.overlay(image, cam.heatmap)

Techniques compute float32 arrays; :mod:`cnnvis.render` turns them into pictures.

The package is organised in wings: :mod:`cnnvis.models` (names to logits),
:mod:`cnnvis.techniques` (one module per family of methods), :mod:`cnnvis.evaluation`
(which explanation to trust), :mod:`cnnvis.datasets` (folders and Parquet),
:mod:`cnnvis.training` (explanations during ``model.fit``), :mod:`cnnvis.ui` (the page) and :mod:`cnnvis.serving` (what guards and schedules its
requests). The public names are the explicit re-exports of ``cnnvis/__init__.pyi``, which
IDEs read; here each is loaded on first use, so ``import cnnvis`` stays light until a model
is touched.
"""

from __future__ import annotations

import importlib

import lazy_loader

from .version import __version__  # noqa: F401 - the package version

_stub_getattr, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)

# Importing these registers every technique in cnnvis.registry.TECHNIQUES.
_REGISTERING = ("techniques", "evaluation.checks", "evaluation.trust")


def __getattr__(name: str):
    if name == "TECHNIQUES":
        for module in _REGISTERING:
            importlib.import_module(f".{module}", __name__)
    return _stub_getattr(name)
