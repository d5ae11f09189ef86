"""Result pictures are files in Gradio's cache named by their bytes: the same picture for
many visitors at once is one file, written whole before anyone can read it."""

from __future__ import annotations

import os
import threading

import numpy as np

from cnnvis.ui import pictures


def test_identical_pictures_written_at_once_are_never_read_half_written():
    data = os.urandom(3_000_000)
    path = pictures.cached_file(data, "result.png")
    os.remove(path)  # so that the writers below race to create it again
    stop = threading.Event()
    reads: list[int] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                with open(path, "rb") as handle:
                    reads.append(len(handle.read()))
            except FileNotFoundError:
                pass

    def writer() -> None:
        for _ in range(20):
            assert pictures.cached_file(data, "result.png") == path

    readers = [threading.Thread(target=reader) for _ in range(2)]
    writers = [threading.Thread(target=writer) for _ in range(4)]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in readers:
        thread.join()
    assert reads and set(reads) == {len(data)}  # every read saw the whole file
    assert sorted(os.listdir(os.path.dirname(path))) == ["result.png"]  # no partial left


def test_a_picture_is_a_png_at_the_fast_level_in_a_folder_named_by_its_bytes():
    picture = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    first, again = pictures.png(picture), pictures.png(picture.copy())
    assert first == again and first.endswith("result.png")
    assert pictures.png(picture[::-1]) != first
