"""The sample CSV of a model fitted elsewhere: a header naming the features, then rows of numbers.

Its rows are the parity gate's known inputs, and the box around them is where the gate generates
more. Every problem is an ExportError naming the file, line and column.
"""

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator

from export.errors import ExportError
from export.estimator_file import class_path

FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class Sample:
    features: tuple[str, ...]  # the header's names, in column order
    rows: np.ndarray  # float32 [N, F], as the server will receive them


def read_sample_csv(path: Path) -> Sample:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ExportError(f"{path}: cannot read it: {error.strerror}") from None
    return parse_sample_csv(data, path)


def parse_sample_csv(data: bytes, path: Path) -> Sample:
    """The header and at least one row of numbers (blank lines are skipped); ``path`` names the file."""
    try:
        lines = list(_numbered_rows(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))))
    except (UnicodeDecodeError, csv.Error) as error:
        raise ExportError(f"{path}: cannot read it as CSV: {error}") from None
    if not lines or lines[0][0] != 1:
        raise ExportError(f"{path}: line 1 must name the features, comma-separated")
    features = _header(path, lines[0][1])
    if len(lines) == 1:
        raise ExportError(f"{path}: no rows under the header; the parity gate needs sample rows")
    rows = [_numbers(path, line, cells, features) for line, cells in lines[1:]]
    return Sample(features, np.array(rows, dtype=np.float32))


def _numbered_rows(reader) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each row that is not blank."""
    for row in reader:
        if any(cell.strip() for cell in row):
            yield reader.line_num, row


def _header(path: Path, cells: list[str]) -> tuple[str, ...]:
    names = tuple(cell.strip() for cell in cells)
    if all(_is_number(name) for name in names):
        raise ExportError(f"{path}: line 1 holds numbers; it must name the features (a header)")
    for column, name in enumerate(names, 1):
        if not name:
            raise ExportError(f"{path}, line 1, column {column}: the feature has no name")
        if name in names[: column - 1]:
            raise ExportError(f"{path}, line 1, column {column}: feature {name!r} is named twice")
    return names


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _numbers(path: Path, line: int, cells: list[str], features: tuple[str, ...]) -> list[float]:
    if len(cells) != len(features):
        raise ExportError(f"{path}, line {line}: {len(cells)} cells; the header names {len(features)}")
    values = []
    for column, (cell, name) in enumerate(zip(cells, features, strict=True), 1):
        where = f"{path}, line {line}, column {column} ({name})"
        try:
            value = float(cell)
        except ValueError:
            raise ExportError(f"{where}: {cell!r} is not a number") from None
        if not math.isfinite(value) or abs(value) > FLOAT32_MAX:
            raise ExportError(f"{where}: {cell!r} is not a finite float32 number")
        values.append(value)
    return values


def check_sample_fits(sample: Sample, estimator: BaseEstimator, path: Path) -> None:
    """The sample's columns must be the estimator's features: their number, and names if it has them."""
    expected = getattr(estimator, "n_features_in_", None)
    if expected is not None and len(sample.features) != expected:
        raise ExportError(
            f"{path}: {len(sample.features)} columns; {class_path(estimator)} takes {expected} "
            "features (n_features_in_)"
        )
    fitted_names = getattr(estimator, "feature_names_in_", None)
    if fitted_names is None:
        return
    for column, (given, fitted) in enumerate(zip(sample.features, fitted_names, strict=False), 1):
        if given != fitted:
            raise ExportError(
                f"{path}, line 1, column {column}: {given!r}; {class_path(estimator)} was fitted "
                f"with {str(fitted)!r} there (feature_names_in_)"
            )
