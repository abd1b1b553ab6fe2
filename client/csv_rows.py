"""Flowers from a CSV file, for the batch RPC.

With a header row, the columns are picked by name (others are ignored); without one, the
first four columns are taken in the API's order. Blank lines are skipped.
"""

import csv
import pathlib

from common.names import FEATURE_NAMES


class CsvError(ValueError):
    """A CSV file the client cannot read rows from; the message names the file and line."""


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_rows(path: pathlib.Path) -> list[tuple[float, ...]]:
    """The four features of every data row of the CSV file at `path`."""
    try:
        with path.open(newline="", encoding="utf-8") as file:
            lines = [(number, cells) for number, cells in enumerate(csv.reader(file), start=1) if cells]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise CsvError(f"{path}: cannot read it: {error}") from None
    columns = list(range(len(FEATURE_NAMES)))
    if lines and not all(_is_number(cell) for cell in lines[0][1]):
        header = [cell.strip() for cell in lines.pop(0)[1]]
        missing = [name for name in FEATURE_NAMES if name not in header]
        if missing:
            raise CsvError(f"{path}: the header has no column {', '.join(missing)}")
        columns = [header.index(name) for name in FEATURE_NAMES]
    rows = []
    for number, cells in lines:
        try:
            rows.append(tuple(float(cells[column]) for column in columns))
        except IndexError:
            raise CsvError(f"{path}, line {number}: {len(cells)} columns, need {max(columns) + 1}") from None
        except ValueError as error:
            raise CsvError(f"{path}, line {number}: {error}") from None
    return rows
