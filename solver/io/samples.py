"""Reading sample points (and optional labels) for an imported network's domain.

Formats, chosen by the file's suffix:

- ``.npy``: one float array, m x d points (no labels);
- ``.npz``: ``points`` (m x d) and optionally ``labels`` (m, or m x k: one column per output);
- ``.csv``: a header row, then one row per point; the columns named by ``label_columns`` are the
  labels (one per output, in the order given), every other column is a coordinate, in file
  order.

Values are used exactly as read (float64; a float32 or float16 file widens exactly): the
certificate is about these points (docs/design.md §2), so nothing is rescaled or standardised
here. Every complaint is an InvalidProblemError naming the file (and the flag, when one is at
fault).
"""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from solver.core.errors import FieldViolation, InvalidProblemError

SAMPLE_SUFFIXES = (".npy", ".npz", ".csv")


@dataclass(frozen=True, eq=False)
class SampleSet:
    """m points (m x d, float64) and their labels (m,) or (m, k) for k outputs, or None when the
    file has none."""

    points: np.ndarray
    labels: np.ndarray | None


def refuse(where: str, description: str, flag: str | None = None) -> InvalidProblemError:
    return InvalidProblemError(FieldViolation(where, description, flag))


def as_float64(where: str, name: str, array: np.ndarray) -> np.ndarray:
    """``array`` widened to float64, which is exact for float16/32/64; other dtypes refused (an
    integer array may hold values no double equals, and a label string is not a number)."""
    array = np.asarray(array)
    if array.dtype.kind != "f" or array.dtype.itemsize > 8:
        raise refuse(where, f"{name} has dtype {array.dtype}; expected float16, float32 or float64")
    out = array.astype(np.float64)
    if not np.all(np.isfinite(out)):
        index = int(np.flatnonzero(~np.isfinite(out.ravel()))[0])
        raise refuse(where, f"{name} must be finite (NaN or infinity at flat index {index})")
    return out


def _points(where: str, name: str, array: np.ndarray) -> np.ndarray:
    points = as_float64(where, name, array)
    if points.ndim != 2 or points.shape[0] == 0 or points.shape[1] == 0:
        raise refuse(where, f"{name} must be a non-empty m x d matrix, got shape {points.shape}")
    return points


def _labels(where: str, name: str, array: np.ndarray, m: int) -> np.ndarray:
    labels = as_float64(where, name, array)
    labels = labels.reshape(-1) if labels.ndim == 2 and labels.shape[1] == 1 else labels
    if labels.ndim not in (1, 2) or labels.shape[0] != m:
        raise refuse(where, f"{name} must hold one row per point ({m}), got shape {labels.shape}")
    return labels


def _read_npy(path: Path, where: str) -> SampleSet:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise refuse(where, f"cannot read as .npy: {exc}") from exc
    return SampleSet(_points(where, "the array", array), None)


def _read_npz(path: Path, where: str) -> SampleSet:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise refuse(where, f"cannot read as .npz: {exc}") from exc
    unknown = sorted(set(arrays) - {"points", "labels"})
    if unknown:
        raise refuse(where, f"array '{unknown[0]}' is not one of points, labels")
    if "points" not in arrays:
        raise refuse(where, "has no array 'points' (m x d)")
    points = _points(where, "array 'points'", arrays["points"])
    labels = None
    if "labels" in arrays:
        labels = _labels(where, "array 'labels'", arrays["labels"], points.shape[0])
    return SampleSet(points, labels)


def _read_csv(path: Path, where: str, label_columns: list[str]) -> SampleSet:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise refuse(where, f"cannot read as CSV text: {exc}") from exc
    if not rows:
        raise refuse(where, "is empty (expected a header row, then one row per point)")
    header = [name.strip() for name in rows[0]]
    missing = [name for name in label_columns if name not in header]
    if missing:
        raise refuse(
            where,
            f"no column '{missing[0]}' (the header has {', '.join(header)})",
            "--label-columns",
        )
    values = np.empty((len(rows) - 1, len(header)))
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise refuse(where, f"line {line} has {len(row)} fields, the header {len(header)}")
        for col, text in enumerate(row):
            try:
                values[line - 2, col] = float(text)
            except ValueError:
                raise refuse(
                    where, f"line {line}, column '{header[col]}': {text!r} is not a number"
                ) from None
    label_index = [header.index(name) for name in label_columns]
    point_index = [i for i in range(len(header)) if i not in label_index]
    points = _points(where, "the point columns", values[:, point_index])
    labels = values[:, label_index] if label_index else None
    if labels is not None:
        names = ", ".join(f"'{c}'" for c in label_columns)
        labels = _labels(where, f"columns {names}", labels, points.shape[0])
    return SampleSet(points, labels)


def read_samples(path: str | Path, label_columns: list[str] | None = None) -> SampleSet:
    """The points (and labels, if the file has them) of a ``.npy``, ``.npz`` or ``.csv`` file."""
    path = Path(path)
    where = str(path)
    suffix = path.suffix.lower()
    if suffix not in SAMPLE_SUFFIXES:
        raise refuse(
            where, f"unknown samples format {suffix!r}; expected {', '.join(SAMPLE_SUFFIXES)}"
        )
    if label_columns and suffix != ".csv":
        raise refuse(where, "label columns are for .csv samples only", "--label-columns")
    if not path.is_file():
        raise refuse(where, "no such file")
    if suffix == ".npy":
        return _read_npy(path, where)
    if suffix == ".npz":
        return _read_npz(path, where)
    return _read_csv(path, where, list(label_columns or []))
