"""The Parquet layout of a dataset run, and a writer whose memory stays flat.

An output folder ``DIR`` holds:

- ``DIR/results.parquet/``: a Parquet dataset (a folder of part files, read as one table
  by ``pyarrow.parquet.read_table``, ``pandas.read_parquet`` or Ray), one row per image
  and method (:func:`results_schema`); the map is a ``fixed_shape_tensor`` column
  (pyarrow's canonical extension type) of float32 at the run's map size;
- ``DIR/errors.parquet/``: one row per file that could not be read (:func:`errors_schema`);
- ``DIR/run.json``: the run's settings, checked by ``--resume``;
- ``DIR/png/<method>/`` with ``--png``: the overlays.

Rows are written as they come: each batch is a row group of the open part file, and a
part is closed (renamed from a hidden temporary name, so no reader ever sees half a file)
after the run's first batch (so its first results can be read within seconds), after
about ``PART_BYTES`` of maps, and when the run ends or is stopped. A process that
is killed loses at most its open part; ``--resume`` goes on from what is on disk.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .decode import FileError
from .files import stored_name

RESULTS = "results.parquet"
ERRORS = "errors.parquet"
MANIFEST = "run.json"
PNG = "png"
PART_BYTES = 64 * 2**20  # maps per part file, about
# Float maps barely compress (snappy: 10 %, zstd: 35 % at twice the CPU time); writing
# must not slow the model down on a CPU, so snappy, and neither dictionary encoding nor
# statistics for the map's values (they cost more than the compression and serve no one).
COMPRESSION = "snappy"
MAP_NOTE = (
    "float32 map at the stated shape (height, width), aligned with the whole photo (resized "
    "without keeping its aspect ratio): heatmap methods give their heatmap in [0, 1]; "
    "attribution methods give cnnvis.maps.saliency of the signed attribution (largest "
    "absolute value over the colour channels, clipped at the 99.5th percentile, in [0, 1]), "
    "the map cnnvis.evaluation.metrics.deletion_insertion ranks pixels by"
)


@dataclass(frozen=True, eq=False)  # rows hold arrays: compare their fields, not the rows
class Row:
    """One image explained by one method."""

    path: str
    sha256: str
    image_height: int
    image_width: int
    model: str
    weights: str
    method: str
    output: str  # "heatmap" or "attribution"
    layer: str | None
    class_index: int
    label: str
    probability: float
    logit: float
    map: np.ndarray  # float32 at the run's map size (see MAP_NOTE)
    seed: int  # this image's seed (cnnvis.datasets.decode.image_seed)
    params: str  # JSON: the run's class, layer, map size, seed and this method's options
    png: str | None
    cnnvis_version: str

    @property
    def parameters(self) -> dict:
        return json.loads(self.params)


_TYPES = {
    "path": pa.string(),
    "sha256": pa.string(),
    "image_height": pa.int32(),
    "image_width": pa.int32(),
    "model": pa.string(),
    "weights": pa.string(),
    "method": pa.string(),
    "output": pa.string(),
    "layer": pa.string(),
    "class_index": pa.int32(),
    "label": pa.string(),
    "probability": pa.float64(),
    "logit": pa.float64(),
    "seed": pa.int64(),
    "params": pa.string(),
    "png": pa.string(),
    "cnnvis_version": pa.string(),
}
ROW_FIELDS = tuple(f.name for f in fields(Row))
SCALAR_FIELDS = [name for name in ROW_FIELDS if name != "map"]
# Every data page carries a CRC-32 of its bytes, so that --resume can tell a part whose
# pages were damaged (its footer intact) from a sound one (see verified_columns).
WRITE_OPTIONS = {
    "compression": COMPRESSION,
    "use_dictionary": SCALAR_FIELDS,
    "write_statistics": SCALAR_FIELDS,
    "write_page_checksum": True,
}


def map_type(shape: Sequence[int]) -> pa.DataType:
    return pa.fixed_shape_tensor(pa.float32(), [int(shape[0]), int(shape[1])])


def results_schema(shape: Sequence[int]) -> pa.Schema:
    nullable = {"layer", "png"}
    columns = [
        pa.field(name, map_type(shape) if name == "map" else _TYPES[name], nullable=name in nullable)
        for name in ROW_FIELDS
    ]
    return pa.schema(columns, metadata={"cnnvis.map": MAP_NOTE})


def errors_schema() -> pa.Schema:
    return pa.schema(
        [
            pa.field("path", pa.string(), nullable=False),
            pa.field("error", pa.string(), nullable=False),
            pa.field("kind", pa.string(), nullable=False),
            pa.field("cnnvis_version", pa.string(), nullable=False),
        ]
    )


def rows_table(rows: Sequence[Row], shape: Sequence[int]) -> pa.Table:
    """The rows as an Arrow table of :func:`results_schema`."""
    schema = results_schema(shape)
    columns = {}
    for name in ROW_FIELDS:
        if name == "map":
            if rows:
                maps = np.stack([np.asarray(row.map, np.float32) for row in rows])
                columns[name] = pa.FixedShapeTensorArray.from_numpy_ndarray(maps)
            else:
                columns[name] = pa.array([], type=map_type(shape))
        else:
            columns[name] = pa.array([getattr(row, name) for row in rows], type=_TYPES[name])
    return pa.Table.from_pydict(columns, schema=schema)


def table_rows(table: pa.Table) -> list[Row]:
    """Rows back from a results table (maps as float32 numpy arrays)."""
    maps = table.column("map").combine_chunks().to_numpy_ndarray() if table.num_rows else []
    data = table.drop_columns(["map"]).to_pylist()
    return [Row(**values, map=np.asarray(m, np.float32)) for values, m in zip(data, maps)]


def errors_table(errors: Sequence[FileError], version: str) -> pa.Table:
    return pa.Table.from_pylist(
        [{"path": stored_name(e.path), "error": e.error, "kind": e.kind, "cnnvis_version": version} for e in errors],
        schema=errors_schema(),
    )


def read_results(out_dir: str | os.PathLike) -> pa.Table:
    """The whole results table of ``out_dir`` (for small runs and tests)."""
    return pq.read_table(os.path.join(out_dir, RESULTS))


def _part_files(folder: str) -> list[str]:
    if not os.path.isdir(folder):
        return []
    return sorted(
        os.path.join(folder, name)
        for name in os.listdir(folder)
        if name.endswith(".parquet") and not name.startswith((".", "_"))
    )


def verified_columns(path: str, columns: Sequence[str]) -> dict[str, list] | None:
    """``columns`` of the part file ``path`` as lists, after reading the whole part (every
    column of every row group, each page's checksum verified); None if any of it cannot
    be read. Reading only the listed columns would miss damaged map pages behind an
    intact footer, and a run resumed on such a part leaves a dataset nobody can read.
    One row group at a time, so memory stays at one batch."""
    values: dict[str, list] = {name: [] for name in columns}
    try:
        part = pq.ParquetFile(path, page_checksum_verification=True)
        for index in range(part.num_row_groups):
            group = part.read_row_group(index)  # decodes every page of every column
            for name in columns:
                values[name].extend(group.column(name).to_pylist())
    except (OSError, ValueError, KeyError, pa.ArrowException):
        return None
    return values


def completed(out_dir: str) -> tuple[dict[str, set[str]], set[str], list[str]]:
    """What a previous run wrote: methods done per path, paths in the errors table, and
    the part files set aside because they could not be read whole (interrupted, or
    damaged since): each is renamed to a hidden ``.incomplete-`` name, which every
    Parquet reader skips, and its photos are done again."""
    done: dict[str, set[str]] = {}
    failed: set[str] = set()
    set_aside: list[str] = []
    for kind, columns in ((RESULTS, ["path", "method"]), (ERRORS, ["path"])):
        folder = os.path.join(out_dir, kind)
        for path in _part_files(folder):
            table = verified_columns(path, columns)
            if table is None:
                hidden = os.path.join(folder, ".incomplete-" + os.path.basename(path))
                os.replace(path, hidden)
                set_aside.append(os.path.basename(path))
                continue
            if kind == RESULTS:
                for file, method in zip(table["path"], table["method"]):
                    done.setdefault(file, set()).add(method)
            else:
                failed.update(table["path"])
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                if name.startswith(".part-") and name.endswith(".tmp"):
                    os.remove(os.path.join(folder, name))  # our own unfinished temporary file
    return done, failed, set_aside


class ParquetSink:
    """Append result rows and errors to ``out_dir``, a row group per batch."""

    def __init__(self, out_dir: str, shape: Sequence[int], version: str) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.version = version
        self.results_dir = os.path.join(out_dir, RESULTS)
        self.errors_dir = os.path.join(out_dir, ERRORS)
        os.makedirs(self.results_dir, exist_ok=True)
        os.makedirs(self.errors_dir, exist_ok=True)
        self.schema = results_schema(self.shape)
        self.part_rows = max(1, PART_BYTES // (4 * self.shape[0] * self.shape[1]))
        self._number = self._first_free_number()
        self._writer: pq.ParquetWriter | None = None
        self._rows_in_part = 0
        self._first_published = False
        self._errors: list[FileError] = []
        self.rows_written = 0
        self.errors_written = 0

    def _first_free_number(self) -> int:
        numbers = [-1]
        for folder in (self.results_dir, self.errors_dir):
            for path in _part_files(folder):
                name = os.path.basename(path)
                if name.startswith("part-") and name[5:10].isdigit():
                    numbers.append(int(name[5:10]))
        return max(numbers) + 1

    def _name(self, folder: str, temporary: bool = False) -> str:
        name = f"part-{self._number:05d}.parquet"
        return os.path.join(folder, f".{name}.tmp" if temporary else name)

    def write(self, table: pa.Table, errors: Iterable[FileError] = ()) -> None:
        self._errors.extend(errors)
        if table.num_rows:
            if self._writer is None:
                self._writer = pq.ParquetWriter(
                    self._name(self.results_dir, temporary=True), self.schema, **WRITE_OPTIONS
                )
            self._writer.write_table(table)
            self._rows_in_part += table.num_rows
            self.rows_written += table.num_rows
        if self._rows_in_part >= self.part_rows or (table.num_rows and not self._first_published):
            self.flush()  # full, or the run's first rows: readable at once, not at the end

    def flush(self) -> None:
        """Close the open part (and write the errors met so far), so that it is on disk."""
        if self._writer is not None:
            self._writer.close()
            os.replace(self._name(self.results_dir, temporary=True), self._name(self.results_dir))
            self._first_published = True
            self._writer = None
            self._rows_in_part = 0
        if self._errors:
            pq.write_table(errors_table(self._errors, self.version), self._name(self.errors_dir))
            self.errors_written += len(self._errors)
            self._errors = []
        self._number += 1

    def close(self) -> None:
        """Publish everything written (also when the run stops early: every row in the
        open part is complete, so a stopped run keeps its work for ``--resume``)."""
        self.flush()


__all__ = [
    "ERRORS",
    "MANIFEST",
    "MAP_NOTE",
    "RESULTS",
    "ParquetSink",
    "Row",
    "completed",
    "errors_table",
    "read_results",
    "results_schema",
    "rows_table",
    "table_rows",
    "verified_columns",
]
