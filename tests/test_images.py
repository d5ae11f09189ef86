"""Tests for cnnvis.images: every input is generated here, no binary fixtures."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile

from cnnvis.errors import (
    CnnvisError,
    ImageError,
    ImageTooLargeError,
    ImageTooSmallError,
    NotAnImageError,
    ParameterError,
    TruncatedImageError,
)
from cnnvis.images import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MIN_SIDE,
    fit_within,
    load_image,
    resize_image,
    resize_map,
)

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)


# --------------------------------------------------------------------------- helpers


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    """Save a PIL image to bytes in the given format."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def pattern(width: int = 48, height: int = 32) -> Image.Image:
    """An RGB image with four flat-coloured quadrants (survives lossy formats well)."""
    array = np.zeros((height, width, 3), np.uint8)
    array[: height // 2, : width // 2] = RED
    array[: height // 2, width // 2 :] = GREEN
    array[height // 2 :, : width // 2] = BLUE
    array[height // 2 :, width // 2 :] = (255, 255, 255)
    return Image.fromarray(array)


def noise(width: int = 300, height: int = 200) -> Image.Image:
    """Random RGB noise, so compressed files are large and cutting them truncates pixel data."""
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk with its length and CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height RGB pixels but holds almost no data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + png_chunk(b"IEND", b"")
    )


def assert_rgb(array: np.ndarray, shape: tuple[int, int]) -> None:
    """The loader's output contract: uint8, C-contiguous, H x W x 3."""
    assert isinstance(array, np.ndarray)
    assert array.dtype == np.uint8
    assert array.shape == (*shape, 3)
    assert array.flags["C_CONTIGUOUS"]


def assert_close(pixel: np.ndarray, colour: tuple[int, int, int], tolerance: int = 0) -> None:
    """A pixel equals a colour within a tolerance per channel."""
    difference = np.abs(pixel.astype(int) - np.array(colour))
    assert difference.max() <= tolerance, f"{pixel.tolist()} is not {colour}"


def assert_one_sentence(error: BaseException) -> None:
    """The message is a single user-facing sentence."""
    message = str(error)
    assert message, "empty message"
    assert "\n" not in message and "Traceback" not in message
    assert message[0].isupper(), message
    assert message.endswith("."), message
    assert ". " not in message[:-1], f"more than one sentence: {message}"
    assert isinstance(error, CnnvisError)


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("fmt", "options", "tolerance"),
    [
        ("PNG", {}, 0),
        ("BMP", {}, 0),
        ("TIFF", {}, 0),
        ("GIF", {}, 0),
        ("WEBP", {"lossless": True}, 0),
        ("WEBP", {"quality": 90}, 40),
        ("JPEG", {"quality": 95}, 30),
    ],
)
def test_round_trip_formats(fmt: str, options: dict, tolerance: int) -> None:
    image = pattern()
    array = load_image(encode(image, fmt, **options))
    assert_rgb(array, (32, 48))
    # Sample the quadrant centres, away from compression artefacts at the edges.
    assert_close(array[8, 12], RED, tolerance)
    assert_close(array[8, 36], GREEN, tolerance)
    assert_close(array[24, 12], BLUE, tolerance)
    assert_close(array[24, 36], (255, 255, 255), tolerance)


def test_lossless_round_trip_is_exact() -> None:
    image = noise(64, 40)
    expected = np.asarray(image)
    for fmt in ("PNG", "BMP", "TIFF"):
        np.testing.assert_array_equal(load_image(encode(image, fmt)), expected)


def test_all_source_kinds_give_identical_arrays(tmp_path: Path) -> None:
    image = noise(50, 30)
    data = encode(image, "PNG")
    path = tmp_path / "noise.png"
    path.write_bytes(data)
    expected = np.asarray(image)
    with open(path, "rb") as handle:
        from_handle = load_image(handle)
    with Image.open(path) as opened:
        from_opened_pil = load_image(opened)
    results = {
        "str path": load_image(str(path)),
        "Path": load_image(path),
        "bytes": load_image(data),
        "bytearray": load_image(bytearray(data)),
        "memoryview": load_image(memoryview(data)),
        "BytesIO": load_image(io.BytesIO(data)),
        "file handle": from_handle,
        "PIL image": load_image(image),
        "opened PIL image": from_opened_pil,
        "array": load_image(expected.copy()),
    }
    for kind, array in results.items():
        assert_rgb(array, (30, 50))
        np.testing.assert_array_equal(array, expected, err_msg=kind)


def test_result_does_not_share_memory_with_input_array() -> None:
    source = np.zeros((20, 20, 3), np.uint8)
    result = load_image(source)
    assert_rgb(result, (20, 20))
    result[0, 0] = 255  # writable, whatever it shares
    assert load_image(np.ascontiguousarray(source[:, ::-1])).flags["C_CONTIGUOUS"]


# --------------------------------------------------------------------------- EXIF orientation


def _oriented_jpeg(orientation: int) -> bytes:
    """A 40 x 20 JPEG with a red block top-left (stored), blue elsewhere, and an EXIF orientation."""
    array = np.zeros((20, 40, 3), np.uint8)
    array[:] = BLUE
    array[:10, :20] = RED
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(Image.fromarray(array), "JPEG", quality=95, exif=exif.tobytes())


def test_exif_orientation_6_rotates_clockwise() -> None:
    array = load_image(_oriented_jpeg(6))
    assert_rgb(array, (40, 20))  # 40 x 20 stored comes back 20 wide, 40 tall
    # Rotating 90 degrees clockwise moves the stored top-left block to the top-right.
    assert_close(array[5, 15], RED, 40)
    assert_close(array[5, 4], BLUE, 40)
    assert_close(array[30, 15], BLUE, 40)


def test_exif_orientation_1_is_left_alone() -> None:
    array = load_image(_oriented_jpeg(1))
    assert_rgb(array, (20, 40))
    assert_close(array[4, 4], RED, 40)
    assert_close(array[15, 35], BLUE, 40)


def test_exif_orientation_applied_to_opened_pil_image() -> None:
    with Image.open(io.BytesIO(_oriented_jpeg(6))) as opened:
        array = load_image(opened)
    np.testing.assert_array_equal(array, load_image(_oriented_jpeg(6)))


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")
def test_malformed_exif_is_ignored() -> None:
    data = encode(pattern(), "JPEG", exif=b"Exif\x00\x00II*\x00garbage")
    assert_rgb(load_image(data), (32, 48))


# --------------------------------------------------------------------------- colour modes


def test_grayscale_l() -> None:
    array = load_image(encode(Image.new("L", (20, 20), 100), "PNG"))
    assert_rgb(array, (20, 20))
    assert (array == 100).all()


def test_bilevel_1() -> None:
    image = Image.new("1", (20, 20), 0)
    image.putpixel((3, 3), 1)
    array = load_image(encode(image, "PNG"))
    assert_close(array[3, 3], (255, 255, 255))
    assert_close(array[0, 0], (0, 0, 0))


def test_la_is_composited_on_white() -> None:
    image = Image.new("LA", (20, 20), (0, 0))
    image.putpixel((1, 1), (0, 255))
    image.putpixel((2, 2), (0, 128))
    array = load_image(encode(image, "PNG"))
    assert_close(array[0, 0], (255, 255, 255))
    assert_close(array[1, 1], (0, 0, 0))
    assert_close(array[2, 2], (127, 127, 127), 1)


def test_rgba_transparent_becomes_white_opaque_stays() -> None:
    image = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    image.putpixel((5, 5), (255, 0, 0, 255))
    image.putpixel((6, 6), (0, 0, 0, 128))
    for source in (encode(image, "PNG"), image, encode(image, "WEBP", lossless=True)):
        array = load_image(source)
        assert_close(array[0, 0], (255, 255, 255))
        assert_close(array[5, 5], RED)
        assert_close(array[6, 6], (127, 127, 127), 1)


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_with_transparency(fmt: str) -> None:
    image = Image.new("P", (20, 20), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0, 0, 0] * 254)
    image.putpixel((4, 4), 1)
    array = load_image(encode(image, fmt, transparency=0))
    assert_close(array[0, 0], (255, 255, 255))
    assert_close(array[4, 4], RED)


def test_palette_without_transparency() -> None:
    image = Image.new("P", (20, 20), 1)
    image.putpalette([0, 0, 0, 0, 0, 255] + [0, 0, 0] * 254)
    assert_close(load_image(encode(image, "PNG"))[3, 3], BLUE)


def test_rgb_png_with_transparent_colour_key() -> None:
    image = Image.new("RGB", (20, 20), GREEN)
    image.putpixel((1, 1), RED)
    array = load_image(encode(image, "PNG", transparency=GREEN))
    assert_close(array[0, 0], (255, 255, 255))
    assert_close(array[1, 1], RED)


@pytest.mark.parametrize("fmt", ["TIFF", "JPEG"])
def test_cmyk(fmt: str) -> None:
    image = Image.new("CMYK", (20, 20), (0, 255, 255, 0))
    array = load_image(encode(image, fmt))
    assert_rgb(array, (20, 20))
    assert_close(array[10, 10], RED, 8)


def test_16_bit_grayscale_png() -> None:
    values = np.zeros((20, 20), np.uint16)
    values[0, 0] = 65535
    values[1, 1] = 32768
    values[2, 2] = 257 * 100
    for data in (encode(Image.fromarray(values), "PNG"), cv2.imencode(".png", values)[1].tobytes()):
        array = load_image(data)
        assert_rgb(array, (20, 20))
        assert_close(array[0, 0], (255, 255, 255))
        assert_close(array[1, 1], (128, 128, 128))
        assert_close(array[2, 2], (100, 100, 100))
        assert_close(array[5, 5], (0, 0, 0))


def test_16_bit_rgb_png() -> None:
    rgb = np.zeros((20, 20, 3), np.uint16)
    rgb[:, :] = (65535, 257 * 128, 0)
    rgb[0, 0] = (257 * 10, 257 * 200, 65535)
    data = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))[1].tobytes()  # OpenCV writes BGR
    array = load_image(data)
    assert_rgb(array, (20, 20))
    assert_close(array[5, 5], (255, 128, 0))
    assert_close(array[0, 0], (10, 200, 255))


def test_mode_i_small_values_kept_and_large_values_treated_as_16_bit() -> None:
    small = np.full((20, 20), 200, np.int32)
    assert_close(load_image(Image.fromarray(small, "I"))[0, 0], (200, 200, 200))
    large = np.full((20, 20), 65535, np.int32)
    large[1, 1] = 257 * 50
    array = load_image(Image.fromarray(large, "I"))
    assert_close(array[0, 0], (255, 255, 255))
    assert_close(array[1, 1], (50, 50, 50))


def test_mode_f_is_clipped() -> None:
    values = np.full((20, 20), 100.4, np.float32)
    values[0, 0] = -5.0
    values[1, 1] = 300.0
    image = Image.fromarray(values, "F")
    for source in (image, encode(image, "TIFF")):
        array = load_image(source)
        assert_close(array[0, 0], (0, 0, 0))
        assert_close(array[1, 1], (255, 255, 255))
        assert_close(array[2, 2], (100, 100, 100))


def test_other_colour_spaces_are_converted() -> None:
    assert_close(load_image(Image.new("HSV", (20, 20), (0, 255, 255)))[0, 0], RED, 2)
    assert_close(load_image(Image.new("LAB", (20, 20), (255, 128, 128)))[0, 0], (255, 255, 255), 3)
    ycbcr = Image.new("RGB", (20, 20), BLUE).convert("YCbCr")
    assert_close(load_image(ycbcr)[0, 0], BLUE, 3)


# --------------------------------------------------------------------------- animation


def _frames() -> list[Image.Image]:
    return [Image.new("RGB", (24, 24), colour) for colour in (RED, GREEN, BLUE)]


@pytest.mark.parametrize(
    ("fmt", "options"),
    [("GIF", {"loop": 0, "duration": 50}), ("WEBP", {"lossless": True, "duration": 50}), ("PNG", {"duration": 50})],
)
def test_animated_images_give_first_frame(fmt: str, options: dict) -> None:
    first, *rest = _frames()
    data = encode(first, fmt, save_all=True, append_images=rest, **options)
    with Image.open(io.BytesIO(data)) as check:
        assert getattr(check, "n_frames", 1) == 3  # really animated
    array = load_image(data)
    assert_rgb(array, (24, 24))
    assert_close(array[12, 12], RED, 2)


# --------------------------------------------------------------------------- rejections


def test_empty_input_is_not_an_image(tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    for source in (b"", bytearray(), io.BytesIO(b""), empty):
        with pytest.raises(NotAnImageError) as caught:
            load_image(source)
        assert_one_sentence(caught.value)


def test_html_renamed_jpg_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"<!DOCTYPE html><html><body>Not found</body></html>")
    with pytest.raises(NotAnImageError) as caught:
        load_image(path)
    assert_one_sentence(caught.value)
    assert "not an image" in str(caught.value)


def test_plain_text_is_not_an_image() -> None:
    with pytest.raises(NotAnImageError):
        load_image(b"just some words, certainly no pixels")


@pytest.mark.parametrize(
    "data",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><rect width="100" height="100"/></svg>',
        b'\xef\xbb\xbf  <?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>',
    ],
)
def test_svg_is_refused(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "drawing.svg"
    path.write_bytes(data)
    for source in (data, path, data.decode("utf-8-sig")):
        with pytest.raises(NotAnImageError) as caught:
            load_image(source)
        assert_one_sentence(caught.value)
        assert "SVG" in str(caught.value) or "text" in str(caught.value)


def test_unsupported_format_is_refused() -> None:
    data = encode(Image.new("RGB", (20, 20)), "PPM")
    with pytest.raises(NotAnImageError):
        load_image(data)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file_is_refused(fmt: str) -> None:
    data = encode(noise(), fmt)
    assert load_image(data).shape == (200, 300, 3)
    with pytest.raises(TruncatedImageError) as caught:
        load_image(data[: len(data) // 2])
    assert_one_sentence(caught.value)


def test_loader_does_not_change_pil_globals() -> None:
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    data = encode(noise(), "JPEG")
    for source in (data[: len(data) // 2], png_header_only(50_000, 50_000)):
        with pytest.raises(ImageError):
            load_image(source)
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == before


def test_decompression_bomb_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    data = png_header_only(50_000, 50_000)
    assert len(data) < 200

    def no_decoding(self, *args, **kwargs):
        raise AssertionError("pixel data must not be decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ImageTooLargeError) as caught:
        load_image(data)
    assert_one_sentence(caught.value)
    assert "2,500 megapixels" in str(caught.value)


def test_pixel_cap_from_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(self, *args, **kwargs):
        raise AssertionError("pixel data must not be decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ImageTooLargeError) as caught:
        load_image(png_header_only(8000, 6000))  # 48 MP, above the 40 MP default but below Pillow's own limit
    assert_one_sentence(caught.value)
    assert "8000 x 6000" in str(caught.value)
    with pytest.raises(ImageTooLargeError):
        load_image(png_header_only(5000, 5000), max_pixels=20_000_000)


def test_pixel_cap_above_pillows_still_refuses_bombs() -> None:
    with pytest.raises(ImageTooLargeError) as caught:
        load_image(png_header_only(50_000, 50_000), max_pixels=10**10)
    assert_one_sentence(caught.value)


def test_pixel_cap_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(pattern(), "PNG")  # 48 x 32 = 1536 pixels
    monkeypatch.setenv("CNNVIS_MAX_PIXELS", "1000")
    with pytest.raises(ImageTooLargeError):
        load_image(data)
    with pytest.raises(ImageTooLargeError):
        load_image(np.zeros((32, 48, 3), np.uint8))
    assert load_image(data, max_pixels=2000).shape == (32, 48, 3)  # the argument wins
    monkeypatch.setenv("CNNVIS_MAX_PIXELS", "2000")
    assert load_image(data).shape == (32, 48, 3)
    monkeypatch.setenv("CNNVIS_MAX_PIXELS", "lots")
    with pytest.raises(ParameterError) as caught:
        load_image(data)
    assert_one_sentence(caught.value)
    monkeypatch.delenv("CNNVIS_MAX_PIXELS")
    assert load_image(data).shape == (32, 48, 3)


def test_default_limits() -> None:
    assert DEFAULT_MAX_PIXELS == 40_000_000
    assert DEFAULT_MIN_SIDE == 16


@pytest.mark.parametrize(("width", "height"), [(1, 1), (3, 3000), (3000, 15)])
def test_too_small_images_are_refused(width: int, height: int) -> None:
    data = encode(Image.new("RGB", (width, height)), "PNG")
    for source in (data, np.zeros((height, width, 3), np.uint8)):
        with pytest.raises(ImageTooSmallError) as caught:
            load_image(source)
        assert_one_sentence(caught.value)
        assert f"{width} x {height} pixels" in str(caught.value)
        assert "16 pixels" in str(caught.value)


def test_min_side_can_be_changed() -> None:
    data = encode(Image.new("RGB", (8, 8)), "PNG")
    assert load_image(data, min_side=8).shape == (8, 8, 3)
    with pytest.raises(ImageTooSmallError):
        load_image(data, min_side=9)


@pytest.mark.parametrize(
    "kwargs", [{"max_pixels": 0}, {"max_pixels": -5}, {"min_side": 0}, {"min_side": True}, {"max_pixels": 1.5}]
)
def test_bad_limits_are_parameter_errors(kwargs: dict) -> None:
    with pytest.raises(ParameterError) as caught:
        load_image(np.zeros((20, 20), np.uint8), **kwargs)
    assert_one_sentence(caught.value)


def test_missing_file_and_folder_and_wrong_type(tmp_path: Path) -> None:
    cases = [tmp_path / "nowhere.png", str(tmp_path), 42, None, [1, 2, 3]]
    for source in cases:
        with pytest.raises(ImageError) as caught:
            load_image(source)
        assert_one_sentence(caught.value)


def test_text_mode_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    path.write_bytes(encode(pattern(), "PNG"))
    with open(path, encoding="latin-1") as handle, pytest.raises(NotAnImageError) as caught:
        load_image(handle)
    assert_one_sentence(caught.value)


# --------------------------------------------------------------------------- NumPy arrays


def test_array_gray_and_single_channel() -> None:
    gray = np.full((20, 30), 77, np.uint8)
    for source in (gray, gray[:, :, None]):
        array = load_image(source)
        assert_rgb(array, (20, 30))
        assert (array == 77).all()


def test_array_rgba_composited_on_white() -> None:
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)
    array = load_image(rgba)
    assert_close(array[0, 0], RED)
    assert_close(array[1, 1], (255, 255, 255))


def test_array_dtypes() -> None:
    assert_close(load_image(np.full((20, 20), 65535, np.uint16))[0, 0], (255, 255, 255))
    assert_close(load_image(np.full((20, 20), 257 * 9, np.uint16))[0, 0], (9, 9, 9))
    flags = np.zeros((20, 20), bool)
    flags[0, 0] = True
    assert_close(load_image(flags)[0, 0], (255, 255, 255))
    assert_close(load_image(flags)[1, 1], (0, 0, 0))
    unit = np.full((20, 20, 3), 0.5, np.float64)
    unit[0, 0] = (1.0, 0.0, 0.0)
    assert_close(load_image(unit)[0, 0], RED)
    assert_close(load_image(unit)[1, 1], (128, 128, 128))
    wide = np.full((20, 20, 3), 300.0, np.float32)
    wide[0, 0] = (-3.0, 100.0, 254.6)
    assert_close(load_image(wide)[0, 0], (0, 100, 255))
    assert_close(load_image(wide)[1, 1], (255, 255, 255))
    assert_close(load_image(np.full((20, 20), 42, np.int64))[0, 0], (42, 42, 42))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_array_with_nan_or_inf_is_refused(bad: float) -> None:
    values = np.zeros((20, 20, 3), np.float32)
    values[3, 3, 1] = bad
    with pytest.raises(ImageError) as caught:
        load_image(values)
    assert_one_sentence(caught.value)


@pytest.mark.parametrize(
    "shape", [(20,), (20, 20, 2), (20, 20, 5), (2, 20, 20, 3), (), (0, 0), (0, 20, 3)]
)
def test_array_with_wrong_shape_is_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ImageError) as caught:
        load_image(np.zeros(shape, np.uint8))
    assert_one_sentence(caught.value)


@pytest.mark.parametrize("dtype", [np.complex64, object])
def test_array_with_wrong_dtype_is_refused(dtype) -> None:
    with pytest.raises(ImageError) as caught:
        load_image(np.zeros((20, 20, 3), dtype))
    assert_one_sentence(caught.value)


def test_array_size_limits() -> None:
    with pytest.raises(ImageTooLargeError):
        load_image(np.zeros((100, 100, 3), np.uint8), max_pixels=9999)
    assert load_image(np.zeros((100, 100, 3), np.uint8), max_pixels=10_000).shape == (100, 100, 3)


# --------------------------------------------------------------------------- resizing


def test_resize_image_shapes_and_dtypes() -> None:
    image = np.asarray(noise(40, 30))
    assert resize_image(image, (15, 20)).shape == (15, 20, 3)
    assert resize_image(image, (60, 80)).shape == (60, 80, 3)
    assert resize_image(image, (30, 40)).dtype == np.uint8
    assert resize_image(image, (45, 20)).shape == (45, 20, 3)  # one side up, one down
    assert resize_image(image[:, :, 0], (10, 10)).shape == (10, 10)
    assert resize_image(image[:, :, :1], (10, 12)).shape == (10, 12, 1)
    as_float = image.astype(np.float32) / 255
    out = resize_image(as_float, (60, 80))
    assert out.dtype == np.float32 and out.shape == (60, 80, 3)
    same = resize_image(image, (30, 40))
    np.testing.assert_array_equal(same, image)
    assert same is not image


def test_resize_image_keeps_constant_images_constant() -> None:
    image = np.full((31, 47, 3), 200, np.uint8)
    for size in ((7, 9), (100, 150)):
        assert (resize_image(image, size) == 200).all()


def test_resize_image_averages_when_shrinking() -> None:
    checker = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    small = resize_image(checker, (32, 32))
    assert small.min() >= 126 and small.max() <= 129  # area averaging, not sampling


def test_resize_image_enlarging_uint8_stays_in_range() -> None:
    checker = (np.indices((8, 8)).sum(axis=0) % 2 * 255).astype(np.uint8)
    big = resize_image(checker, (64, 64))
    assert big.dtype == np.uint8
    assert big.min() == 0 and big.max() == 255  # clipped, not wrapped around


@pytest.mark.parametrize("size", [(0, 5), (5,), (5, -1), (True, 5), "ab", (2.5, 3)])
def test_resize_image_rejects_bad_sizes(size) -> None:
    with pytest.raises(ParameterError) as caught:
        resize_image(np.zeros((10, 10, 3), np.uint8), size)
    assert_one_sentence(caught.value)


def test_resize_image_rejects_bad_arrays() -> None:
    for bad in (np.zeros((10,), np.uint8), np.zeros((10, 10, 3), np.int64), [[1, 2]]):
        with pytest.raises(ParameterError):
            resize_image(bad, (5, 5))


def test_resize_map_returns_float32_and_shapes() -> None:
    values = np.random.default_rng(1).random((7, 7))
    out = resize_map(values, (224, 224))
    assert out.dtype == np.float32 and out.shape == (224, 224)
    assert resize_map(values.astype(np.float32)[:, :, None], (14, 28)).shape == (14, 28, 1)
    assert resize_map(np.zeros((7, 7), np.int32), (3, 3)).dtype == np.float32


def test_resize_map_constant_stays_constant() -> None:
    out = resize_map(np.full((7, 7), 0.25, np.float32), (224, 300))
    np.testing.assert_allclose(out, 0.25, atol=1e-6)


def test_resize_map_ramp_stays_monotonic() -> None:
    ramp = np.tile(np.linspace(0.0, 1.0, 7, dtype=np.float32), (7, 1))
    out = resize_map(ramp, (224, 224))
    assert (np.diff(out, axis=1) >= -1e-6).all()
    assert out[:, -1].min() > out[:, 0].max()
    np.testing.assert_allclose(out, np.tile(out[:1], (224, 1)), atol=1e-6)  # still constant down each column


def test_resize_map_aligns_pixel_centres() -> None:
    out = resize_map(np.array([[0.0, 1.0], [0.0, 1.0]], np.float32), (4, 4))
    np.testing.assert_allclose(out[0], [0.0, 0.25, 0.75, 1.0], atol=1e-6)
    peak = np.zeros((7, 7), np.float32)
    peak[3, 3] = 1.0
    up = resize_map(peak, (224, 224))
    np.testing.assert_allclose(up, up[:, ::-1], atol=1e-6)  # symmetric map stays symmetric
    np.testing.assert_allclose(up, up[::-1, :], atol=1e-6)
    assert np.unravel_index(up.argmax(), up.shape)[0] in (111, 112)


def test_resize_map_many_channels() -> None:
    values = np.random.default_rng(2).random((7, 7, 600)).astype(np.float32)
    out = resize_map(values, (14, 14))
    assert out.shape == (14, 14, 600)
    np.testing.assert_allclose(out[:, :, 599], resize_map(values[:, :, 599], (14, 14)), atol=1e-6)


def test_fit_within() -> None:
    tall = np.zeros((1000, 500, 3), np.uint8)
    assert fit_within(tall, 224).shape == (224, 112, 3)
    wide = np.zeros((300, 1200, 3), np.uint8)
    assert fit_within(wide, 400).shape == (100, 400, 3)
    square = np.zeros((512, 512), np.float32)
    out = fit_within(square, 256)
    assert out.shape == (256, 256) and out.dtype == np.float32
    sliver = np.zeros((5000, 3, 3), np.uint8)
    assert fit_within(sliver, 100).shape == (100, 1, 3)


def test_fit_within_never_enlarges() -> None:
    small = np.zeros((100, 50, 3), np.uint8)
    assert fit_within(small, 224) is small
    assert fit_within(small, 100) is small


@pytest.mark.parametrize("max_side", [0, -1, 2.5, True])
def test_fit_within_rejects_bad_max_side(max_side) -> None:
    with pytest.raises(ParameterError) as caught:
        fit_within(np.zeros((10, 10, 3), np.uint8), max_side)
    assert_one_sentence(caught.value)
