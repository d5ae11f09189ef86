"""Loading user images safely and resizing images and maps.

:func:`load_image` accepts a path, raw bytes, a file object, a PIL image or a NumPy
array and always returns a C-contiguous ``uint8`` RGB array of shape ``H x W x 3``.
It refuses anything that is not a plain raster image, images cut short, images too
small to mean anything to a CNN and images so large that decoding them could exhaust
memory (the pixel count declared in the header is checked before any pixel is decoded).
Every refusal is an :class:`~cnnvis.errors.ImageError` whose message is one sentence.

With ``max_side``, a large photo is shrunk while it is decoded, so that the memory it
takes stays near the size of its decoded ``uint8`` frame (Pillow's ``draft`` for JPEG,
which decodes at 1/2, 1/4 or 1/8 scale; an integer ``reduce`` before any conversion for
the other formats); a file given by path is read by Pillow as it decodes, not first into
memory.

PIL's global settings (``Image.MAX_IMAGE_PIXELS``, ``ImageFile.LOAD_TRUNCATED_IMAGES``)
are never changed.
"""

from __future__ import annotations

import io
import os
import re
import struct
import warnings
import zlib
from typing import IO, Any, Union

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.Image import Transpose

from .errors import (
    ImageError,
    ImageTooLargeError,
    ImageTooSmallError,
    NotAnImageError,
    ParameterError,
    TruncatedImageError,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MIN_SIDE",
    "MAX_PIXELS_ENV",
    "ImageSource",
    "load_image",
    "resize_image",
    "resize_map",
    "fit_within",
]

DEFAULT_MAX_PIXELS = 40_000_000
"""Largest pixel count (width x height) accepted unless ``CNNVIS_MAX_PIXELS`` says otherwise."""

DEFAULT_MIN_SIDE = 16
"""Shortest side, in pixels, an image must have."""

MAX_PIXELS_ENV = "CNNVIS_MAX_PIXELS"
"""Environment variable that overrides :data:`DEFAULT_MAX_PIXELS` (read at call time)."""

ImageSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes], Image.Image, np.ndarray]

# Only these Pillow decoders are ever used (phone "MPO" JPEGs open through the JPEG one).
# Restricting the list keeps exotic formats (EPS, which runs Ghostscript, among others) out.
_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
_FORMAT_NAMES = "JPEG, PNG, GIF, WebP, BMP or TIFF"

# Errors Pillow raises while decoding a damaged file.
_DECODE_ERRORS = (OSError, SyntaxError, EOFError, ValueError, IndexError, struct.error, zlib.error)
# Errors a malformed EXIF block can raise; the orientation is then ignored.
_EXIF_ERRORS = (OSError, SyntaxError, ValueError, KeyError, TypeError, IndexError, struct.error)

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I;16S")


# --------------------------------------------------------------------------- limits


def _max_pixels(max_pixels: int | None) -> int:
    """The pixel cap: the argument, else ``CNNVIS_MAX_PIXELS``, else the default."""
    if max_pixels is None:
        raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
        if not raw:
            return DEFAULT_MAX_PIXELS
        try:
            max_pixels = int(raw)
        except ValueError:
            raise ParameterError(
                f"The setting {MAX_PIXELS_ENV} must be a whole number of pixels such as 40000000, not {raw!r}."
            ) from None
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)) or max_pixels < 1:
        raise ParameterError(f"The maximum number of pixels must be a positive whole number, not {max_pixels!r}.")
    return int(max_pixels)


def _megapixels(pixels: int) -> str:
    """``48000000`` -> ``'48'``, ``2500000`` -> ``'2.5'``, ``2500000000`` -> ``'2,500'``."""
    text = f"{pixels / 1e6:,.1f}"
    return text[:-2] if text.endswith(".0") else text


def _check_size(width: int, height: int, max_pixels: int, min_side: int) -> None:
    """Refuse images above the pixel cap or below the minimum side length."""
    pixels = width * height
    if pixels > max_pixels:
        raise ImageTooLargeError(
            f"The image is {width} x {height} pixels ({_megapixels(pixels)} megapixels), "
            f"more than the limit of {_megapixels(max_pixels)} megapixels."
        )
    if min(width, height) < min_side:
        raise ImageTooSmallError(
            f"The image is {width} x {height} pixels; it must be at least {min_side} pixels on each side."
        )


def _bomb_error(error: Exception, max_pixels: int) -> ImageTooLargeError:
    """Turn Pillow's decompression-bomb error or warning into our one-sentence error."""
    match = re.search(r"\((\d+) pixels\)", str(error))
    pixels = int(match.group(1)) if match else None
    if pixels is None:
        return ImageTooLargeError("The image has too many pixels to be decoded safely.")
    if pixels > max_pixels:
        return ImageTooLargeError(
            f"The image has {_megapixels(pixels)} megapixels, "
            f"more than the limit of {_megapixels(max_pixels)} megapixels."
        )
    return ImageTooLargeError(f"The image has {_megapixels(pixels)} megapixels, too many to be decoded safely.")


# --------------------------------------------------------------------------- public API


def load_image(
    source: ImageSource,
    *,
    max_pixels: int | None = None,
    min_side: int = DEFAULT_MIN_SIDE,
    max_side: int | None = None,
) -> np.ndarray:
    """Load ``source`` as a C-contiguous ``uint8`` RGB array of shape ``H x W x 3``.

    ``source`` may be a path, bytes, a binary file object, a PIL image or a NumPy array.
    Files are decoded with Pillow (JPEG, PNG, GIF, WebP, BMP or TIFF only), EXIF
    orientation is applied, animated files give their first frame and transparency is
    composited over white. ``max_pixels`` defaults to ``CNNVIS_MAX_PIXELS`` or
    :data:`DEFAULT_MAX_PIXELS`; images whose declared width x height exceeds it are
    refused before decoding. Images whose shorter side is below ``min_side`` are refused.

    ``max_side`` (default None: the full size) gives the same picture as
    ``fit_within(load_image(source), max_side, min_side=min(min_side, max_side))``, within
    a few grey levels, but shrinks while decoding: a 40-megapixel JPEG is decoded at 1/8
    scale, a PNG is box-reduced in its own mode before any conversion, so memory stays
    near the decoded frame instead of several float copies of it.

    Raises:
        NotAnImageError: empty input, text, SVG or an unsupported format.
        TruncatedImageError: the file is cut short or corrupt.
        ImageTooSmallError / ImageTooLargeError: the size limits are not met.
        ImageError: any other unusable input (bad array shape, NaN values, missing file).
    """
    cap = _max_pixels(max_pixels)
    if isinstance(min_side, bool) or not isinstance(min_side, (int, np.integer)) or min_side < 1:
        raise ParameterError(f"The minimum image side must be a positive whole number, not {min_side!r}.")
    min_side = int(min_side)
    if max_side is not None and (
        isinstance(max_side, bool) or not isinstance(max_side, (int, np.integer)) or max_side < 1
    ):
        raise ParameterError(f"The largest image side must be a positive whole number, not {max_side!r}.")
    shrink = None if max_side is None else (int(max_side), min(min_side, int(max_side)))

    if isinstance(source, np.ndarray):
        image = _array_to_rgb(source, cap, min_side)
        return image if shrink is None else fit_within(image, shrink[0], min_side=shrink[1])
    if isinstance(source, Image.Image):
        return _decode_pil(source, cap, min_side, shrink)
    if isinstance(source, (str, os.PathLike)) and not _looks_like_markup_text(source):
        return _decode_path(source, cap, min_side, shrink)
    return _decode_bytes(_read_source(source), cap, min_side, shrink)


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an ``H x W`` or ``H x W x C`` image to ``size = (height, width)``.

    Uses area averaging when shrinking and bicubic interpolation when enlarging. The
    dtype is kept (``uint8`` results are rounded and clipped to 0-255).
    """
    image = _check_resizable(image, "image")
    height, width = _check_size_arg(size)
    if image.shape[:2] == (height, width):
        return image.copy()
    shrinking = height <= image.shape[0] and width <= image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return _cv2_resize(image, height, width, interpolation)


def resize_map(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinearly resize a float map (``H x W`` or ``H x W x C``) to ``size = (height, width)``.

    Pixel centres are aligned the way ``cv2.INTER_LINEAR`` aligns them, so an upsampled
    Grad-CAM map or gradient lines up with the photo. Always returns ``float32``.
    """
    values = _check_resizable(np.asarray(values, dtype=np.float32), "map")
    height, width = _check_size_arg(size)
    if values.shape[:2] == (height, width):
        return values.copy()
    return _cv2_resize(values, height, width, cv2.INTER_LINEAR)


def fit_within(image: np.ndarray, max_side: int, *, min_side: int = 1) -> np.ndarray:
    """Shrink ``image`` so that its longer side is at most ``max_side``, keeping the aspect ratio.

    Never enlarges: an image that already fits is returned unchanged (not copied). No side
    becomes shorter than ``min_side`` (at most the side it had): a very thin image is
    squeezed along its length rather than scaled uniformly, so that it stays usable.
    """
    if isinstance(max_side, bool) or not isinstance(max_side, (int, np.integer)) or max_side < 1:
        raise ParameterError(f"The largest image side must be a positive whole number, not {max_side!r}.")
    if isinstance(min_side, bool) or not isinstance(min_side, (int, np.integer)) or not 1 <= min_side <= max_side:
        raise ParameterError(
            f"The smallest image side must be a whole number from 1 to the largest side, not {min_side!r}."
        )
    image = _check_resizable(image, "image")
    height, width = image.shape[:2]
    if max(height, width) <= max_side:
        return image
    return resize_image(image, _fitted_shape(height, width, max_side, min_side))


def _fitted_shape(height: int, width: int, max_side: int, min_side: int) -> tuple[int, int]:
    """The ``(height, width)`` that :func:`fit_within` gives an image of this shape."""
    longest = max(height, width)
    if longest <= max_side:
        return height, width
    scale = max_side / longest
    new_height = max_side if height == longest else max(1, round(height * scale))
    new_width = max_side if width == longest else max(1, round(width * scale))
    new_height = max(new_height, min(min_side, height))
    new_width = max(new_width, min(min_side, width))
    return new_height, new_width


# --------------------------------------------------------------------------- reading


def _looks_like_markup_text(source: Any) -> bool:
    """Whether a string given as a path is markup text (an SVG or a web page) instead."""
    return isinstance(source, str) and source.lstrip().startswith("<")


def _read_source(source: Any) -> bytes:
    """Get the raw bytes of a path, bytes-like object or binary file object."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if _looks_like_markup_text(source):
        raise NotAnImageError("This is text, not an image file (SVG drawings and web pages are not supported).")
    if isinstance(source, (str, os.PathLike)):
        return _read_path(source)
    if hasattr(source, "read"):
        try:
            data = source.read()
        except (OSError, ValueError) as error:
            raise ImageError(f"The uploaded file could not be read ({_reason(error)}).") from None
        if isinstance(data, str):
            raise NotAnImageError("The file was opened as text, so it cannot be an image; open it in binary mode.")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ImageError("The file object did not return bytes when read.")
        return bytes(data)
    raise ImageError(
        f"An image must be given as a file path, bytes, a file, a PIL image or a NumPy array, "
        f"not a {type(source).__name__}."
    )


def _read_path(path: str | os.PathLike[str]) -> bytes:
    """Read a whole file, turning file-system errors into one-sentence image errors."""
    with _open_path(path) as handle:
        try:
            return handle.read()
        except OSError as error:
            raise _file_error(path, error) from None


def _open_path(path: str | os.PathLike[str]) -> IO[bytes]:
    """Open a file for reading, turning file-system errors into one-sentence image errors."""
    try:
        return open(path, "rb")
    except OSError as error:
        raise _file_error(path, error) from None


def _file_error(path: str | os.PathLike[str], error: OSError) -> ImageError:
    name = os.path.basename(os.fspath(path)) or os.fspath(path)
    if isinstance(error, FileNotFoundError):
        return ImageError(f"The file '{name}' does not exist.")
    if isinstance(error, IsADirectoryError):
        return ImageError(f"The path '{name}' is a folder, not an image file.")
    if isinstance(error, PermissionError):
        return ImageError(f"The file '{name}' cannot be read because permission is denied.")
    return ImageError(f"The file '{name}' could not be read ({_reason(error)}).")


def _reason(error: BaseException) -> str:
    """A short, single-line description of a low-level error for use inside a sentence."""
    text = " ".join(str(error).split()).rstrip(".")
    return text or type(error).__name__


def _looks_like_svg(data: bytes) -> bool:
    """Whether the bytes start like an SVG or XML document."""
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<svg", b"<?xml")) or (head.startswith(b"<!doctype svg"))


# --------------------------------------------------------------------------- decoding


def _decode_bytes(data: bytes, max_pixels: int, min_side: int, shrink: tuple[int, int] | None = None) -> np.ndarray:
    """Decode an encoded image file held in memory."""
    _check_head(data)
    return _decode_file(io.BytesIO(data), max_pixels, min_side, shrink)


def _decode_path(
    path: str | os.PathLike[str], max_pixels: int, min_side: int, shrink: tuple[int, int] | None
) -> np.ndarray:
    """Decode an image file by path; Pillow reads the file as it decodes (not whole first)."""
    with _open_path(path) as handle:
        try:
            head = handle.read(1024)
            handle.seek(0)
        except OSError as error:
            raise _file_error(path, error) from None
        _check_head(head)
        return _decode_file(handle, max_pixels, min_side, shrink)


def _check_head(head: bytes) -> None:
    """Refuse an empty file, or SVG/XML, from the first bytes."""
    if not head:
        raise NotAnImageError("The file is empty.")
    if _looks_like_svg(head):
        raise NotAnImageError("SVG drawings are not supported; please convert the drawing to PNG or JPEG first.")


def _decode_file(file: IO[bytes], max_pixels: int, min_side: int, shrink: tuple[int, int] | None) -> np.ndarray:
    """Open an encoded image from a binary file object and decode it."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(file, formats=_FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise _bomb_error(error, max_pixels) from None
        except UnidentifiedImageError:
            raise NotAnImageError(
                f"This file is not an image (it could not be decoded as {_FORMAT_NAMES})."
            ) from None
        except _DECODE_ERRORS:
            raise TruncatedImageError("The image file is damaged or incomplete and could not be read.") from None
        with image:
            return _decode_pil(image, max_pixels, min_side, shrink, opened_here=True)


def _decode_pil(
    image: Image.Image,
    max_pixels: int,
    min_side: int,
    shrink: tuple[int, int] | None = None,
    opened_here: bool = False,
) -> np.ndarray:
    """Check the declared size, decode the current frame, orient it and convert it to RGB
    (shrunk to ``shrink = (max_side, min_side)`` while decoding, if given).

    A freshly opened animated file is at its first frame; a PIL image passed in by the
    caller is used at whatever frame it is on (and never changed: only an image opened
    here is decoded at a reduced JPEG scale).
    """
    width, height = image.size
    _check_size(width, height, max_pixels, min_side)
    target = None if shrink is None else _fitted_shape(height, width, *shrink)[::-1]  # (w, h)
    if target == (width, height):
        target = None  # it fits already: decoded exactly as without max_side
    if target is not None and opened_here:  # JPEG: decoded at 1/2, 1/4 or 1/8 scale
        image.draft(image.mode, (target[0] * _REDUCING_GAP, target[1] * _REDUCING_GAP))
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise _bomb_error(error, max_pixels) from None
        except _DECODE_ERRORS:
            raise TruncatedImageError(
                "The image file is damaged or incomplete (it may have been cut off during upload)."
            ) from None
    if target is None:
        image = _apply_exif_orientation(image)
        return _pil_to_rgb(image)
    return _shrunk_to_rgb(image, target, release=opened_here)


def _shrunk_to_rgb(image: Image.Image, target: tuple[int, int], release: bool) -> np.ndarray:
    """A decoded frame box-reduced in its own mode to at least twice ``target = (w, h)``,
    oriented, converted to RGB, then resized to exactly what :func:`fit_within` gives the
    full image. With ``release``, the full frame is freed as soon as it is reduced."""
    frame = image
    transpose = _exif_transpose_method(image)
    sixteen_bit = image.mode in _SIXTEEN_BIT_MODES or (
        image.mode == "I" and (image.getextrema()[1] or 0) > 255  # decided on every pixel
    )
    if image.mode in ("P", "PA", "1") or (image.has_transparency_data and image.mode not in ("LA", "RGBA")):
        image = image.convert("RGBA" if image.has_transparency_data or image.mode == "PA" else "RGB")
    elif image.mode in _SIXTEEN_BIT_MODES:
        image = image.convert("I")  # reduce works on 32-bit integers, not on 16-bit modes
    factor = max(1, min(image.size[0] // target[0], image.size[1] // target[1]) // _REDUCING_GAP)
    if factor > 1:
        image = image.reduce(factor)
    if release and image is not frame:
        frame.close()  # frees the full-size frame at once (the file was opened here)
    if transpose is not None:
        image = image.transpose(transpose)
    if sixteen_bit and image.mode == "I":
        rgb = _gray_to_rgb(_scale_16_bit(np.asarray(image)))
    elif image.mode == "I":
        rgb = _gray_to_rgb(_clip_to_uint8(np.asarray(image)))
    else:
        rgb = _pil_to_rgb(image)
    wanted = target if transpose in _SWAPS_SIDES else target[::-1]  # (height, width), upright
    return rgb if rgb.shape[:2] == wanted else resize_image(rgb, wanted)


# A box reduction (or a JPEG's DCT scaling) stops at twice the final size, then area
# averaging finishes: as Pillow's thumbnail(reducing_gap=2), the result is then close to
# area averaging of the full image, while the frame in memory shrinks at least 4 times.
_REDUCING_GAP = 2


# EXIF orientation -> the transposition that shows the picture upright (as ImageOps.exif_transpose).
_ORIENTATIONS = {
    2: Transpose.FLIP_LEFT_RIGHT,
    3: Transpose.ROTATE_180,
    4: Transpose.FLIP_TOP_BOTTOM,
    5: Transpose.TRANSPOSE,
    6: Transpose.ROTATE_270,
    7: Transpose.TRANSVERSE,
    8: Transpose.ROTATE_90,
}
_SWAPS_SIDES = (Transpose.ROTATE_90, Transpose.ROTATE_270, Transpose.TRANSPOSE, Transpose.TRANSVERSE)


def _exif_transpose_method(image: Image.Image) -> Transpose | None:
    """The transposition the EXIF Orientation tag asks for; None if none or malformed."""
    try:
        return _ORIENTATIONS.get(image.getexif().get(0x0112, 1))
    except _EXIF_ERRORS:
        return None


def _apply_exif_orientation(image: Image.Image) -> Image.Image:
    """Rotate or flip as the EXIF Orientation tag says; a malformed EXIF block is ignored."""
    try:
        return ImageOps.exif_transpose(image)
    except _EXIF_ERRORS:
        return image


def _pil_to_rgb(image: Image.Image) -> np.ndarray:
    """Convert any supported Pillow mode to a contiguous ``uint8`` RGB array."""
    mode = image.mode
    if mode == "RGB" and not image.has_transparency_data:
        return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
    if mode in _SIXTEEN_BIT_MODES:
        return _gray_to_rgb(_scale_16_bit(np.asarray(image)))
    if mode == "I":
        values = np.asarray(image)
        return _gray_to_rgb(_scale_16_bit(values) if values.max(initial=0) > 255 else _clip_to_uint8(values))
    if mode == "F":
        values = np.asarray(image)
        if not np.isfinite(values).all():
            raise ImageError("The image contains pixel values that are not numbers (NaN or infinity).")
        return _gray_to_rgb(_clip_to_uint8(values))
    try:
        if image.has_transparency_data:
            return _composite_on_white(np.asarray(image.convert("RGBA")))
        return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))
    except ValueError:
        raise NotAnImageError(f"The image uses a colour mode ({mode}) that cannot be converted to RGB.") from None


# --------------------------------------------------------------------------- arrays


def _array_to_rgb(array: np.ndarray, max_pixels: int, min_side: int) -> np.ndarray:
    """Convert a NumPy image array (gray, gray+1, RGB or RGBA) to ``uint8`` RGB."""
    shape = array.shape
    if not (array.ndim == 2 or (array.ndim == 3 and shape[2] in (1, 3, 4))):
        shown = " x ".join(str(n) for n in shape) or "a single value"
        raise ImageError(
            f"The image array has shape {shown}, but it must be height x width with 1, 3 or 4 colour channels or none."
        )
    if array.size == 0:
        raise ImageError("The image array is empty.")
    _check_size(shape[1], shape[0], max_pixels, min_side)
    pixels = _array_to_uint8(array)
    if pixels.ndim == 2:
        return _gray_to_rgb(pixels)
    channels = pixels.shape[2]
    if channels == 1:
        return _gray_to_rgb(pixels[:, :, 0])
    if channels == 4:
        return _composite_on_white(pixels)
    return np.ascontiguousarray(pixels)


def _array_to_uint8(array: np.ndarray) -> np.ndarray:
    """Map an array of any supported dtype to ``uint8`` following the documented rules."""
    dtype = array.dtype
    if dtype == np.uint8:
        return array
    if dtype == np.bool_:
        return array.astype(np.uint8) * np.uint8(255)
    if dtype == np.uint16:
        return _scale_16_bit(array)
    if np.issubdtype(dtype, np.integer):
        return _scale_16_bit(array) if array.max() > 255 else _clip_to_uint8(array)
    if np.issubdtype(dtype, np.floating):
        if not np.isfinite(array).all():
            raise ImageError("The image array contains values that are not numbers (NaN or infinity).")
        values = array.astype(np.float32)
        if values.max() <= 1.0:
            values = values * 255.0
        return _clip_to_uint8(values)
    raise ImageError(f"The image array holds {dtype} values, but it must hold numbers (integers, floats or booleans).")


def _scale_16_bit(values: np.ndarray) -> np.ndarray:
    """Map 16-bit values (0-65535) to 8-bit by dividing by 257 and rounding."""
    scaled = np.rint(values.astype(np.float32) / 257.0)
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _clip_to_uint8(values: np.ndarray) -> np.ndarray:
    """Round and clip values to 0-255."""
    return np.clip(np.rint(values.astype(np.float32)), 0, 255).astype(np.uint8)


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    """Repeat one ``uint8`` channel three times."""
    return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))


def _composite_on_white(rgba: np.ndarray) -> np.ndarray:
    """Blend a ``uint8`` RGBA array over a white background: the nearest integer to
    ``(colour * alpha + 255 * (255 - alpha)) / 255``, in 16-bit integers (a third of the
    memory float32 would take; a ratio of integers to 255 is never exactly halfway, so
    this rounds as rint does)."""
    alpha = rgba[:, :, 3:4].astype(np.uint16)
    blended = rgba[:, :, :3] * alpha  # at most 255 * 255: fits in 16 bits
    blended += (255 - alpha) * 255
    blended += 127
    blended //= 255
    return np.ascontiguousarray(blended.astype(np.uint8))


# --------------------------------------------------------------------------- resizing


_RESIZABLE_DTYPES = (np.uint8, np.uint16, np.float32, np.float64)
_CV2_MAX_CHANNELS = 128  # OpenCV 5 resizes at most 128 channels at once (CV_CN_MAX; 512 in OpenCV 4)


def _check_resizable(image: np.ndarray, what: str) -> np.ndarray:
    """Validate an array for resizing and return it C-contiguous."""
    if not isinstance(image, np.ndarray):
        raise ParameterError(f"The {what} to resize must be a NumPy array, not a {type(image).__name__}.")
    if image.ndim not in (2, 3) or image.shape[0] < 1 or image.shape[1] < 1 or image.size == 0:
        raise ParameterError(f"The {what} to resize must be height x width or height x width x channels.")
    if image.dtype.type not in _RESIZABLE_DTYPES:
        raise ParameterError(
            f"The {what} to resize must hold uint8, uint16, float32 or float64 values, not {image.dtype}."
        )
    return np.ascontiguousarray(image)


def _check_size_arg(size: tuple[int, int]) -> tuple[int, int]:
    """Validate a ``(height, width)`` pair of positive integers."""
    try:
        height, width = size
    except (TypeError, ValueError):
        raise ParameterError(f"The target size must be a pair (height, width), not {size!r}.") from None
    for value in (height, width):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ParameterError(f"The target size must be two positive whole numbers (height, width), not {size!r}.")
    return int(height), int(width)


def _cv2_resize(image: np.ndarray, height: int, width: int, interpolation: int) -> np.ndarray:
    """``cv2.resize`` to ``(height, width)``, keeping the channel axis and handling many channels."""
    if image.ndim == 3 and image.shape[2] > _CV2_MAX_CHANNELS:
        step = _CV2_MAX_CHANNELS
        parts = [
            _cv2_resize(np.ascontiguousarray(image[:, :, start : start + step]), height, width, interpolation)
            for start in range(0, image.shape[2], step)
        ]
        return np.concatenate(parts, axis=2)
    resized = cv2.resize(image, (width, height), interpolation=interpolation)
    if image.ndim == 3 and resized.ndim == 2:
        resized = resized[:, :, None]
    return np.ascontiguousarray(resized)
