"""Touching the files of a folder that anyone may have filled: open, read, name.

A dataset run reads folders it did not make. Three rules hold for every file it reads
(photos, list files, the photo behind a ``--png`` overlay):

- **Only regular files are opened**, and opening never waits: the file is opened with
  ``O_NONBLOCK`` (a FIFO named ``y.png`` would otherwise block ``open`` until a writer
  comes) and its type is checked on the open descriptor (``fstat``), so a link to
  ``/dev/zero``, a pipe, a socket or a device is refused before a byte is read.
- **The size is checked before reading, and the read is bounded**: a file larger than
  its bound (:data:`MAX_PHOTO_BYTES` for a photo) is refused from its size alone, and
  the read stops one byte past the bound whatever the size said (a file that grows while
  it is read is refused too). A 6 GB sparse ``huge.png`` costs a ``fstat``, not 6 GB.
- **Names are text**: a file name that is not valid UTF-8 (Linux allows any bytes) is
  kept, not lost, in a documented form (:func:`stored_name`): every byte that is not
  part of valid UTF-8 is written ``\\xNN`` (Python's ``backslashreplace``); names that
  are valid UTF-8 are stored unchanged. Names shown on a terminal or in a sentence have
  their control characters escaped as well (:func:`shown_name`), so a file called
  ``"a\\nb.jpg"`` or one holding a terminal escape sequence prints on one line and
  changes nothing on the screen.
"""

from __future__ import annotations

import os
import re
import stat

from ..errors import CnnvisError

MB = 2**20
# A photo file, at most. The decoder's own bound is 40 MP (cnnvis.images); an
# uncompressed 40 MP RGB TIFF or BMP is 120 MB, so 128 MB takes every photo the decoder
# would take, while one file read per decoding thread keeps memory bounded.
MAX_PHOTO_BYTES = 128 * MB
# A list file (.txt/.lst), at most: MAX_FILES paths of about 100 characters.
MAX_LIST_BYTES = 1024 * MB

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
)


class UnreadableFileError(CnnvisError):
    """A file the run does not read: missing, not a regular file, too large, refused."""


def kind_of(mode: int) -> str:
    """What a file of this ``st_mode`` is, in words ("a pipe (FIFO)", "a device"...)."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return "not a regular file"


def read_regular(path: str, bound: int, *, what: str = "file") -> bytes:
    """The bytes of the regular file ``path`` (links followed), at most ``bound`` bytes;
    else an :class:`UnreadableFileError` whose sentence names the file (not its folder)."""
    name = shown_name(os.path.basename(path) or path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise UnreadableFileError(f"The {what} '{name}' does not exist.") from None
    except PermissionError:
        raise UnreadableFileError(f"The {what} '{name}' cannot be read because permission is denied.") from None
    except OSError as error:
        raise UnreadableFileError(f"The {what} '{name}' could not be opened ({error.strerror or 'I/O error'}).") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFileError(f"The path '{name}' is {kind_of(info.st_mode)}, not a regular {what}; it was not read.")
        if info.st_size > bound:
            raise UnreadableFileError(
                f"The {what} '{name}' is larger than {bound // MB} MB ({info.st_size:,} bytes); it was not read."
            )
        chunks = []
        left = bound + 1  # one byte past the bound: a file that grew is refused, not cut
        while left > 0:
            chunk = os.read(fd, min(left, 4 * MB))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:
            raise UnreadableFileError(f"The {what} '{name}' grew past {bound // MB} MB while it was read; it was not used.")
        return b"".join(chunks)
    except OSError as error:
        raise UnreadableFileError(f"The {what} '{name}' could not be read ({error.strerror or 'I/O error'}).") from None
    finally:
        os.close(fd)


def is_regular(path: str) -> bool:
    """Whether ``path`` is a regular file (links followed), looked up, never opened."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def screen(path: str, bound: int = MAX_PHOTO_BYTES, *, what: str = "file") -> str | None:
    """A sentence if ``path`` would be refused by :func:`read_regular` from its type or
    size alone (looked up with ``stat``, never opened), else None. For engines that read
    files themselves (Ray), so that they are given only regular files within the bound."""
    name = shown_name(os.path.basename(path) or path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return f"The {what} '{name}' does not exist."
    except OSError as error:
        return f"The {what} '{name}' could not be looked up ({error.strerror or 'I/O error'})."
    if not stat.S_ISREG(info.st_mode):
        return f"The path '{name}' is {kind_of(info.st_mode)}, not a regular {what}; it was not read."
    if info.st_size > bound:
        return f"The {what} '{name}' is larger than {bound // MB} MB ({info.st_size:,} bytes); it was not read."
    return None


# ----- names ------------------------------------------------------------------------------
def stored_name(path: str) -> str:
    """``path`` as text that any UTF-8 writer (Parquet, CSV, JSON) takes.

    A name that is valid UTF-8 is returned unchanged. Python gives a name that is not as
    a string holding "surrogate escapes" (PEP 383), which no UTF-8 writer accepts; here
    each such byte becomes the four characters ``\\xNN`` (its value in two lowercase hex
    digits), e.g. the Latin-1 name ``caf\\xe9.jpg`` (bytes ``63 61 66 e9 2e 6a 70 67``)
    is stored as ``caf\\xe9.jpg``. To get the bytes back, replace each ``\\xNN`` by
    its byte in the UTF-8 encoding of the stored name; this is ambiguous only for a name
    that is valid UTF-8 and itself holds such a sequence (documented in SECURITY.md).
    """
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        pass
    try:
        raw = os.fsencode(path)  # the bytes the file system holds
    except UnicodeEncodeError:  # a lone surrogate that did not come from the file system
        return path.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


# C0 and C1 control characters, DEL, and the bidirectional overrides and isolates
# (which reorder what a terminal shows after them, CVE-2021-42574).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown_name(path: str) -> str:
    """``path`` for a terminal or a sentence: :func:`stored_name`, then every control
    character escaped (``\\n``, ``\\r``, ``\\t``, else ``\\xNN`` or ``\\uNNNN``), so the name
    is one line that cannot move the cursor, recolour or retitle the terminal."""
    return _CONTROL.sub(_escape, stored_name(path))


__all__ = [
    "MAX_LIST_BYTES",
    "MAX_PHOTO_BYTES",
    "UnreadableFileError",
    "is_regular",
    "read_regular",
    "screen",
    "shown_name",
    "stored_name",
]
