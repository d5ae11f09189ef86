"""What the app's three test files share: which weights they run with, bad files, and
the "one clear sentence" check for error messages."""

from __future__ import annotations

import os
import re
import struct
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from .conftest import EXAMPLES, find_weights_dir

# Real MobileNetV2 weights where the weights directory has them, random weights otherwise
# (or when CNNVIS_APP_TEST_WEIGHTS=random asks for them); the test ids say which.
WEIGHTS_DIR = None if os.environ.get("CNNVIS_APP_TEST_WEIGHTS") == "random" else find_weights_dir()
WEIGHTS = "real" if WEIGHTS_DIR is not None else "random"
CAT = EXAMPLES / "cat.jpg"
ESPRESSO = EXAMPLES / "espresso.jpg"
EGYPTIAN_CAT = "285 · Egyptian cat"
TAB_IDS = (
    "filters",
    "feature_maps",
    "guided_backprop",
    "grad_cam",
    "guided_grad_cam",
    "deep_dream",
)


def app_settings():
    """The app's settings for the tests: one computation per lane, this machine's weights."""
    from cnnvis.ui.settings import Settings

    if WEIGHTS == "real":
        return Settings(weights="imagenet", weights_dir=str(WEIGHTS_DIR))
    return Settings(weights="random")


def app_cli_args() -> list[str]:
    """The same choice as command-line flags for ``python app.py``."""
    if WEIGHTS == "real":
        return ["--weights", "imagenet", "--weights-dir", str(WEIGHTS_DIR)]
    return ["--weights", "random"]


def cancel_running(job, seconds: float = 60) -> None:
    """Cancel a gradio_client job once the client has seen it start. gradio_client's
    ``cancel`` tells the server only if it already knows the job's event id; a cancel sent
    before that (a busy machine) is dropped silently, and the job runs on."""
    deadline = time.monotonic() + seconds
    started = ("PROCESSING", "PROGRESS", "ITERATING", "LOG", "FINISHED", "CANCELLED")
    while job.status().code.name not in started:
        assert time.monotonic() < deadline, f"the job never started: {job.status()}"
        time.sleep(0.02)
    job.cancel()


def is_one_sentence(message: str) -> bool:
    """One line, ending like a sentence, no second sentence, nothing from a traceback."""
    text = str(message).strip()
    return (
        0 < len(text) <= 300
        and "\n" not in text
        and text[-1] in ".!?"
        and re.search(r"[.!?]\s+[A-Z]", text) is None
        and not re.search(r"Traceback|tensorflow|File \"|Exception|0x[0-9a-f]{6}", text)
    )


def refusal_message(error: Exception) -> str:
    """The one sentence of a refusal as gradio_client raises it: an ``AppError`` carries the
    handler's sentence; a ``ValidationError`` (the app's screening of the inputs, Gradio's
    validation answer) says "1 parameter(s) failed validation:" then "- <name>: <sentence>"
    per refused parameter (the first is returned)."""
    text = str(error)
    if type(error).__name__ == "ValidationError":
        lines = [line for line in text.splitlines() if line.startswith("- ")]
        assert lines, text
        return lines[0].split(": ", 1)[1]
    return text


def text_file(folder: Path) -> Path:
    path = folder / "notes.png"  # an image's name, a text's bytes
    path.write_text("This is not a picture.\n")
    return path


def truncated_jpeg(folder: Path) -> Path:
    data = CAT.read_bytes()
    path = folder / "cut.jpg"
    path.write_bytes(data[: len(data) // 3])
    return path


def bomb_png(folder: Path, width: int = 20_000, height: int = 20_000) -> Path:
    """A 400-megapixel PNG header with almost no data: a decompression bomb in 100 bytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
    path = folder / "bomb.png"
    path.write_bytes(data)
    return path


def rotated_jpeg(folder: Path) -> Path:
    """A 40 x 20 (w x h) JPEG whose EXIF says "rotate 90°": upright it is 20 x 40."""
    picture = Image.fromarray(np.full((20, 40, 3), 200, np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = folder / "rotated.jpg"
    picture.save(path, exif=exif)
    return path
