"""Rebuild the example photos in ``examples/`` from the Python packages that ship them.

Every picture comes from a permissively licensed sample image bundled inside a package
on PyPI (see ``examples/SOURCES.md`` for the licences):

- scikit-image (installed in the virtualenv): ``skimage/data/*``
- matplotlib (installed): ``matplotlib/mpl-data/sample_data/grace_hopper.jpg``
- scikit-learn: ``sklearn/datasets/images/*.jpg``, read straight out of the wheel, so it
  does not need to be installed::

      pip download --no-deps scikit-learn -d /tmp/sk
      python scripts/make_examples.py --sklearn-wheel /tmp/sk/scikit_learn-*.whl

Each picture is saved as an RGB JPEG (quality 90, longest side at most 640 px), and the
script prints the package version and SHA-256 of every source file it read.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

MAX_SIDE = 640
JPEG_QUALITY = 90
REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Example:
    """One output file and where its pixels come from."""

    output: str  # file name in examples/
    package: str  # "skimage", "matplotlib" or "sklearn"
    path: str  # path of the source file inside the package


EXAMPLES: tuple[Example, ...] = (
    Example("cat.jpg", "skimage", "data/chelsea.png"),
    Example("espresso.jpg", "skimage", "data/coffee.png"),
    Example("astronaut.jpg", "skimage", "data/astronaut.png"),
    Example("rocket.jpg", "skimage", "data/rocket.jpg"),
    Example("cameraman.jpg", "skimage", "data/camera.png"),
    Example("grace_hopper.jpg", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
    Example("temple.jpg", "sklearn", "datasets/images/china.jpg"),
    Example("flower.jpg", "sklearn", "datasets/images/flower.jpg"),
)


def installed_source(package: str, path: str) -> tuple[bytes, str]:
    """Bytes of ``path`` inside an installed package, and the package's version."""
    module = __import__(package)
    source = Path(module.__file__).parent / path
    return source.read_bytes(), str(module.__version__)


def wheel_source(wheel: Path, package: str, path: str) -> tuple[bytes, str]:
    """Bytes of ``package/path`` read from a wheel, and the version in its file name."""
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(f"{package}/{path}")
    version = wheel.name.split("-")[1]
    return data, version


def read_source(example: Example, sklearn_wheel: Path | None) -> tuple[bytes, str]:
    """Bytes and package version for one example's source file."""
    if example.package == "sklearn" and sklearn_wheel is not None:
        return wheel_source(sklearn_wheel, example.package, example.path)
    return installed_source(example.package, example.path)


def to_example_jpeg(data: bytes) -> bytes:
    """Decode any image, make it RGB, shrink to MAX_SIDE and encode as JPEG (no metadata)."""
    with Image.open(io.BytesIO(data)) as picture:
        rgb = picture.convert("RGB")
    if max(rgb.size) > MAX_SIDE:
        rgb.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    rgb.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


def build(output_dir: Path, sklearn_wheel: Path | None) -> list[str]:
    """Write every example into ``output_dir``; return one report line per file."""
    output_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for example in EXAMPLES:
        data, version = read_source(example, sklearn_wheel)
        jpeg = to_example_jpeg(data)
        (output_dir / example.output).write_bytes(jpeg)
        with Image.open(io.BytesIO(jpeg)) as written:
            width, height = written.size
        digest = hashlib.sha256(data).hexdigest()
        lines.append(
            f"{example.output:18} {width}x{height:<4} {len(jpeg) // 1024:4d} KiB  "
            f"{example.package} {version} {example.package}/{example.path}  sha256 {digest}"
        )
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sklearn-wheel",
        type=Path,
        help="scikit-learn wheel to read china.jpg and flower.jpg from "
        "(default: the installed scikit-learn)",
    )
    parser.add_argument(
        "--output", type=Path, default=REPO_ROOT / "examples", help="where to write the JPEGs"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        lines = build(args.output, args.sklearn_wheel)
    except ModuleNotFoundError as error:
        print(
            f"{error}. For scikit-learn, run 'pip download --no-deps scikit-learn -d DIR' "
            "and pass --sklearn-wheel DIR/scikit_learn-*.whl.",
            file=sys.stderr,
        )
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
