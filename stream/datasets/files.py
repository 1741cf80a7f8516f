"""Opening and reading the dataset files: missing paths, gzip and zip, CSV columns as numpy.

API::

    DataNotFoundError                                   # a FileNotFoundError naming the path
    require(path) -> Path                               # the path, or DataNotFoundError
    open_text(path) -> TextIO                           # plain or .gz, BOM-tolerant UTF-8
    open_zipped_csv(path) -> TextIO                     # the first .csv member of a zip
    read_table(lines, path, time_col, value_cols, limit) -> (t_ms, [values, ...])

``read_table`` reads naive times as if they were UTC (so the UTC hour is the wearer's local
hour, see the package docstring), drops rows with an unreadable time and turns unreadable values
into NaN, a chunk of rows at a time.
"""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from collections.abc import Iterable, Sequence
from itertools import islice
from pathlib import Path

import numpy as np

from wearmon.stream.datasets.series import FloatArray, IntArray

READ_CHUNK_ROWS = 50_000


class DataNotFoundError(FileNotFoundError):
    """A dataset file or directory is missing; the message names the path."""


def require(path: Path) -> Path:
    """``path`` if it exists, else ``DataNotFoundError`` saying where to point the data dir."""
    if not path.exists():
        raise DataNotFoundError(
            f"{path} not found: point WEARMON_DATA_DIR (or --data-dir) at the shared data directory"
        )
    return path


def open_text(path: Path) -> io.TextIOWrapper:
    """A text file, gzipped when its name ends in ``.gz``; a UTF-8 byte-order mark is skipped."""
    raw = gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def open_zipped_csv(path: Path) -> io.TextIOWrapper:
    """The first CSV member of a zip archive, as text (the archive closes with it)."""
    archive = zipfile.ZipFile(path)
    members = [n for n in archive.namelist() if n.endswith(".csv")]
    if not members:
        archive.close()
        raise ValueError(f"{path}: no .csv file inside")
    member = archive.open(members[0])
    archive.close()  # the open member keeps the underlying file open until it is closed
    return io.TextIOWrapper(member, encoding="utf-8-sig", newline="")


def read_table(
    lines: Iterable[str], path: Path, time_col: str, value_cols: Sequence[str], limit: int | None
) -> tuple[IntArray, list[FloatArray]]:
    """Read a CSV's time column (naive times read as UTC -> ms) and numeric value columns.

    Rows with an unreadable time are dropped; unreadable values become NaN.

    >>> lines = ["t,hr", "2020-01-01 00:00:01,61", "not a time,62", "2020-01-01 00:00:02,x"]
    >>> t_ms, (hr,) = read_table(lines, Path("example.csv"), "t", ("hr",), None)
    >>> (t_ms % 60_000).tolist(), hr.tolist()
    ([1000, 2000], [61.0, nan])
    """
    reader = csv.reader(lines)
    header = next(reader, None) or []
    missing = [c for c in (time_col, *value_cols) if c not in header]
    if missing:
        raise ValueError(f"{path}: columns {missing} not found in header {header}")
    ti, vis = header.index(time_col), [header.index(c) for c in value_cols]
    width = max(ti, *vis)
    rows = islice(reader, limit) if limit is not None else reader
    times: list[IntArray] = []
    values: list[list[FloatArray]] = [[] for _ in value_cols]
    while chunk := [r for r in islice(rows, READ_CHUNK_ROWS) if len(r) > width]:
        t_ms = _times_ms([r[ti] for r in chunk])
        ok = t_ms != np.iinfo(np.int64).min  # NaT
        times.append(t_ms[ok])
        for acc, vi in zip(values, vis, strict=True):
            acc.append(_floats([r[vi] for r in chunk])[ok])
    if not times:
        return np.empty(0, dtype=np.int64), [np.empty(0) for _ in value_cols]
    return np.concatenate(times), [np.concatenate(acc) for acc in values]


def _times_ms(texts: list[str]) -> IntArray:
    try:
        stamps = np.array(texts, dtype="datetime64[ms]")
    except ValueError:
        stamps = np.array([_time_or_nat(t) for t in texts], dtype="datetime64[ms]")
    return stamps.astype(np.int64)


def _time_or_nat(text: str) -> np.datetime64:
    try:
        return np.datetime64(text.strip(), "ms")
    except ValueError:
        return np.datetime64("NaT", "ms")


def _floats(texts: list[str]) -> FloatArray:
    try:
        return np.array(texts, dtype=np.float64)
    except ValueError:
        return np.array([_float_or_nan(t) for t in texts], dtype=np.float64)


def _float_or_nan(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")
