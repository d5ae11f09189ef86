"""Shared set-up of the dataset and command-line tests: a tiny model saved as a .keras
file (so the command line can load it in a second), and folders of photos."""

from __future__ import annotations

import shutil
from pathlib import Path

from .conftest import EXAMPLES
from .tiny import cam_model

# Quick settings for the methods whose defaults make many passes (the tiny model is
# 16 x 16, so even these are cheap; they also exercise the per-method options).
FAST_OPTIONS = {
    "smoothgrad": {"samples": 4, "noise": 0.2},
    "integrated_gradients": {"steps": 6, "baseline": "blur"},
    "occlusion": {"window": 4, "stride": 2},
    "score_cam": {"max_channels": 4},
}


def example_photos() -> list[Path]:
    return sorted(EXAMPLES.glob("*.jpg"))


def save_tiny_model(folder: Path) -> Path:
    """The seeded conv -> ReLU -> pooling -> dense model of tests/tiny.py, as a file."""
    path = folder / "tiny.keras"
    if not path.exists():
        cam_model(seed=0).save(path)
    return path


def photo_folder(folder: Path, *, bad: bool = True) -> Path:
    """The example photos in ``folder/photos`` (one in a sub-folder), plus, with
    ``bad``, files that cannot be read: text named .jpg, an empty .png, a cut JPEG."""
    photos = folder / "photos"
    (photos / "more").mkdir(parents=True, exist_ok=True)
    for index, source in enumerate(example_photos()):
        target = photos / "more" / source.name if index == 0 else photos / source.name
        shutil.copy(source, target)
    if bad:
        (photos / "notes.jpg").write_text("not a photo")
        (photos / "empty.png").write_bytes(b"")
        data = example_photos()[1].read_bytes()
        (photos / "cut.jpg").write_bytes(data[: len(data) // 3])
    return photos


def option_arguments(options=FAST_OPTIONS) -> list[str]:
    arguments = []
    for method, values in options.items():
        for name, value in values.items():
            arguments += ["--option", f"{method}.{name}={value}"]
    return arguments
