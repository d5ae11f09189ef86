"""``load_image(..., max_side=...)``: shrinking while decoding gives the picture that
decoding whole then ``fit_within`` gives, for every colour mode and orientation, with
memory near the decoded frame (measured in a fresh process, not timed)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnvis import images
from cnnvis.errors import ImageError, ParameterError
from cnnvis.images import DEFAULT_MIN_SIDE, fit_within, load_image

ROOT = Path(__file__).resolve().parents[1]
SIDE = 400
HEIGHT, WIDTH = 1100, 1900  # shrunk 4.75 times: a box reduction (or JPEG scaling) by 2, then area averaging


def photo_like(height: int = HEIGHT, width: int = WIDTH, seed: int = 0) -> np.ndarray:
    """Smooth colour with a little grain, as a photo has."""
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    grain = np.random.default_rng(seed).normal(0, 4, (height, width, 3))
    base = np.stack([columns * 255 / width, rows * 255 / height, np.full_like(rows, 90)], axis=-1)
    return np.clip(base + grain, 0, 255).astype(np.uint8)


def encoded(picture: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, fmt, **options)
    return buffer.getvalue()


def rotated(code: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = code
    return exif


def cases() -> dict[str, tuple[bytes, float, int]]:
    """name -> (file, largest mean difference, largest 99th-percentile difference)."""
    rgb = photo_like()
    alpha = np.tile(np.linspace(0, 255, WIDTH).astype(np.uint8), (HEIGHT, 1))
    palette = Image.fromarray(rgb).quantize(64)
    grey16 = np.tile(np.linspace(0, 65535, WIDTH).astype(np.uint16), (HEIGHT, 1))
    i32 = np.tile(np.linspace(0, 200, WIDTH).astype(np.int32), (HEIGHT, 1))  # "I", all <= 255
    floats = np.tile(np.linspace(-20, 300, WIDTH).astype(np.float32), (HEIGHT, 1))
    return {
        "JPEG": (encoded(Image.fromarray(rgb), "JPEG", quality=92), 1.0, 3),
        "JPEG, EXIF rotate 90": (encoded(Image.fromarray(rgb), "JPEG", quality=92, exif=rotated(6)), 1.0, 3),
        "JPEG, EXIF transverse": (encoded(Image.fromarray(rgb), "JPEG", quality=92, exif=rotated(7)), 1.0, 3),
        "CMYK JPEG": (encoded(Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=92), 1.0, 3),
        "grey JPEG": (encoded(Image.fromarray(rgb[..., 1]), "JPEG", quality=92), 1.0, 3),
        "RGB PNG": (encoded(Image.fromarray(rgb), "PNG"), 1.0, 3),
        "RGB PNG, EXIF rotate 270": (encoded(Image.fromarray(rgb), "PNG", exif=rotated(8)), 1.0, 3),
        "RGBA PNG": (encoded(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), "PNG"), 1.0, 3),
        "LA PNG": (encoded(Image.fromarray(np.dstack([rgb[..., 0], alpha]), "LA"), "PNG"), 1.0, 3),
        "RGB PNG with a transparent colour": (
            encoded(Image.fromarray(rgb), "PNG", transparency=tuple(int(v) for v in rgb[0, 0])),
            1.0,
            3,
        ),
        "16-bit grey PNG": (encoded(Image.fromarray(grey16), "PNG"), 0.5, 1),
        "palette PNG": (encoded(palette, "PNG"), 1.0, 4),
        "palette PNG with transparency": (encoded(palette, "PNG", transparency=3), 1.0, 6),
        "GIF": (encoded(palette, "GIF"), 1.0, 4),
        "1-bit PNG": (encoded(Image.fromarray(rgb[..., 1] > 128), "PNG"), 1.0, 16),
        "WebP": (encoded(Image.fromarray(rgb), "WEBP", quality=90), 1.0, 3),
        "BMP": (encoded(Image.fromarray(rgb), "BMP"), 1.0, 3),
        "CMYK TIFF": (encoded(Image.fromarray(rgb).convert("CMYK"), "TIFF"), 1.0, 3),
        "32-bit integer TIFF": (encoded(Image.fromarray(i32, "I"), "TIFF"), 0.5, 1),
        "float TIFF": (encoded(Image.fromarray(floats, "F"), "TIFF"), 0.5, 1),
    }


CASES = cases()


@pytest.mark.parametrize("case", list(CASES))
def test_shrinking_while_decoding_matches_decoding_whole_then_fitting(case):
    data, mean_limit, p99_limit = CASES[case]
    whole = fit_within(load_image(data), SIDE, min_side=DEFAULT_MIN_SIDE)
    shrunk = load_image(data, max_side=SIDE)
    assert shrunk.shape == whole.shape and shrunk.dtype == np.uint8 and shrunk.flags.c_contiguous
    difference = np.abs(shrunk.astype(int) - whole.astype(int))
    assert difference.mean() <= mean_limit and np.percentile(difference, 99) <= p99_limit, (
        case,
        difference.mean(),
        np.percentile(difference, 99),
    )


def test_the_16_bit_rule_is_decided_on_every_pixel():
    """A mode "I" image is read as 16-bit when any pixel is above 255, even if the box
    reduction averages that pixel away."""
    values = np.zeros((1000, 2000), np.int32)
    values[0, 0] = 60_000
    values[:, 1000:] = 200
    data = encoded(Image.fromarray(values, "I"), "TIFF")
    whole = fit_within(load_image(data), SIDE)
    shrunk = load_image(data, max_side=SIDE)
    assert whole.shape == (200, 400, 3) and whole[100, 300].max() <= 1  # 200 / 257: 16-bit
    assert np.abs(shrunk.astype(int) - whole.astype(int)).max() <= 1


@pytest.mark.parametrize("size", [(3000, 16), (16, 3000), (2000, 20), (400, 300), (390, 170)])
def test_thin_and_small_photos_get_the_shape_fit_within_gives(size):
    width, height = size
    data = encoded(Image.fromarray(photo_like(height, width)), "PNG")
    whole = fit_within(load_image(data), SIDE, min_side=DEFAULT_MIN_SIDE)
    shrunk = load_image(data, max_side=SIDE)
    assert shrunk.shape == whole.shape
    if max(size) <= SIDE:
        np.testing.assert_array_equal(shrunk, whole)  # nothing to shrink: decoded exactly


def test_every_source_kind_takes_max_side(tmp_path):
    picture = photo_like(900, 1500)
    path = tmp_path / "photo.png"
    Image.fromarray(picture).save(path)
    expected = fit_within(load_image(path), 600)
    for source in (path, str(path), path.read_bytes(), io.BytesIO(path.read_bytes()), picture):
        assert np.abs(load_image(source, max_side=600).astype(int) - expected.astype(int)).max() <= 3
    with Image.open(path) as opened:
        assert load_image(opened, max_side=600).shape == expected.shape


def test_a_callers_pil_image_is_not_changed():
    data = encoded(Image.fromarray(photo_like()), "JPEG")
    with Image.open(io.BytesIO(data)) as opened:
        load_image(opened, max_side=256)
        assert opened.size == (WIDTH, HEIGHT)  # no reduced JPEG scale on the caller's image


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "1024"])
def test_max_side_must_be_a_positive_whole_number(bad):
    with pytest.raises(ParameterError, match="largest image side"):
        load_image(photo_like(32, 32), max_side=bad)


def test_a_path_is_decoded_as_it_is_read_not_read_whole_first(tmp_path, monkeypatch):
    path = tmp_path / "photo.jpg"
    Image.fromarray(photo_like(64, 96)).save(path)

    def read_whole(_path):
        raise AssertionError("the whole file was read into memory")

    monkeypatch.setattr(images, "_read_path", read_whole)
    assert load_image(path).shape == (64, 96, 3)
    assert load_image(str(path), max_side=48).shape == (32, 48, 3)
    # The same sentences as before for what is not an image file.
    with pytest.raises(ImageError, match="does not exist"):
        load_image(tmp_path / "missing.jpg", max_side=48)
    with pytest.raises(ImageError, match="is a folder"):
        load_image(tmp_path, max_side=48)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(tmp_path / "empty.jpg", max_side=48)
    (tmp_path / "drawing.png").write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    with pytest.raises(ImageError, match="SVG"):
        load_image(tmp_path / "drawing.png", max_side=48)


PEAK = r"""
import json, sys
from cnnvis.images import fit_within, load_image

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

before = status("VmRSS")
if sys.argv[2] == "whole":
    image = fit_within(load_image(sys.argv[1]), 1024)
else:
    image = load_image(sys.argv[1], max_side=1024)
print(json.dumps({"increase": status("VmHWM") - before, "shape": image.shape}))
"""


def peak_increase(path: Path, how: str) -> int:
    """Peak resident memory that decoding ``path`` adds, in a fresh process (VmHWM is not
    inherited across exec, unlike ru_maxrss)."""
    output = subprocess.run(
        [sys.executable, "-c", PEAK, str(path), how],
        capture_output=True, text=True, check=True, cwd=ROOT, timeout=120,
    )
    return json.loads(output.stdout.strip().splitlines()[-1])["increase"]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/self/status")
def test_a_big_rgba_png_costs_memory_near_its_decoded_frame(tmp_path):
    """16 MP RGBA (a 64 MB frame): decoding whole then compositing over white took several
    float copies; shrinking while decoding stays within about three frames."""
    height, width = 3000, 5400
    picture = np.zeros((height, width, 4), np.uint8)
    picture[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)
    picture[..., 3] = 200
    path = tmp_path / "big.png"
    Image.fromarray(picture, "RGBA").save(path, compress_level=1)
    del picture
    frame = height * width * 4
    shrunk, whole = peak_increase(path, "shrunk"), peak_increase(path, "whole")
    print(f"\n[decode] 16 MP RGBA PNG: +{whole / 2**20:.0f} MB whole, +{shrunk / 2**20:.0f} MB shrunk")
    assert shrunk <= 3 * frame and shrunk < whole
