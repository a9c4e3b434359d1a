"""Reading a matrix or a signal a user gives us: a NumPy array, a ``.npy`` file or a ``.csv`` file.

Nothing is resized or normalized: the model sees the values as they are. What is refused, with a sentence:
NaN or infinite values, a rank other than 1 (a signal), 2 (a matrix) or 3 (a C×H×W stack), ragged or
non-numeric CSV rows, pickled ``.npy`` files (they can run code), and more than ``MAX_CELLS`` values
(checked from the ``.npy`` header or while the CSV is read, before the whole file is in memory).
"""

from __future__ import annotations

import csv
import io
import itertools
import os
from pathlib import Path

import numpy as np

from ..errors import CamdemoError

DataInput = str | os.PathLike | bytes | np.ndarray
MAX_CELLS = 1 << 22  # 4,194,304 values (a 2048×2048 matrix, 16 MB as float32): far above a model's input
MAX_CHANNELS = 64  # a C×H×W stack with more "channels" than this is more likely a mistake
NPY_MAGIC = b"\x93NUMPY"


def load_array(source: DataInput, *, max_cells: int = MAX_CELLS) -> np.ndarray:
    """``source`` as a float32 array of rank 1 (L), 2 (H×W) or 3 (C×H×W), checked; ``CamdemoError`` otherwise."""
    if isinstance(source, np.ndarray):
        return _checked(source, "The array", max_cells)
    if isinstance(source, (bytes, bytearray)):
        return _parse(bytes(source), "the uploaded file", max_cells)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise CamdemoError(f"No data file at '{path}'.")
        if path.suffix.lower() not in (".npy", ".csv", ".txt"):
            raise CamdemoError(f"'{path.name}' is not a .npy or .csv file; camdemo reads matrices and signals from "
                               "those two formats.")
        with open(path, "rb") as stream:
            head = stream.read(len(NPY_MAGIC))
            stream.seek(0)
            if head == NPY_MAGIC:
                return _read_npy(stream, f"'{path.name}'", max_cells)
            return _read_csv(io.TextIOWrapper(stream, encoding="utf-8", errors="strict"), f"'{path.name}'",
                             max_cells)
    raise CamdemoError(f"Cannot read data from a {type(source).__name__}; give a NumPy array, a .npy or .csv file "
                       "path, or the file's bytes.")


def _parse(raw: bytes, name: str, max_cells: int) -> np.ndarray:
    if not raw:
        raise CamdemoError(f"{name.capitalize()} is empty (0 bytes).")
    if raw.startswith(NPY_MAGIC):
        return _read_npy(io.BytesIO(raw), name, max_cells)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CamdemoError(f"{name.capitalize()} is neither a .npy file nor CSV text.") from None
    return _read_csv(io.StringIO(text), name, max_cells)


def _read_npy(stream, name: str, max_cells: int) -> np.ndarray:
    """A ``.npy`` file, its shape checked from the header before the values are read; never unpickled."""
    try:
        version = np.lib.format.read_magic(stream)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read_header is None:
            raise ValueError(f".npy format version {version} is not supported")
        shape, _fortran, dtype = read_header(stream)  # the header only
    except (ValueError, OSError) as error:
        raise CamdemoError(f"{name.capitalize()} is not a readable .npy file ({error}).") from None
    if dtype.hasobject:
        raise CamdemoError(f"{name.capitalize()} holds Python objects (a pickled array), which camdemo does not load: "
                           "they can run code. Save plain numbers: np.save(path, array.astype(np.float32)).")
    _check_cells(int(np.prod(shape)), shape, name, max_cells)
    stream.seek(0)
    try:
        values = np.load(stream, allow_pickle=False)
    except ValueError as error:
        raise CamdemoError(f"{name.capitalize()} could not be read: {error}.") from None
    return _checked(values, name.capitalize(), max_cells)


def _read_csv(stream, name: str, max_cells: int) -> np.ndarray:
    """Numbers separated by commas (or semicolons, tabs, spaces), one row per line; every row as long as the first."""
    rows: list[list[float]] = []
    cells = 0
    lines = (line for line in stream if line.strip())  # read as they are parsed: a huge file stops at the limit
    try:
        first = next(lines, None)
        if first is None:
            raise CamdemoError(f"{name.capitalize()} has no numbers in it.")
        for number, fields in enumerate(csv.reader(itertools.chain([first], lines), _dialect(first)), start=1):
            row = _numbers(fields, number, name, first_row=not rows)
            if row is None:  # a header line
                continue
            if rows and len(row) != len(rows[0]):
                raise CamdemoError(f"The rows of {name} have different lengths: line {number} has {len(row)} values "
                                   f"and the first row {len(rows[0])}. A matrix needs rows of one length.")
            cells += len(row)
            _check_cells(cells, None, name, max_cells)
            rows.append(row)
    except UnicodeDecodeError:
        raise CamdemoError(f"{name.capitalize()} is neither a .npy file nor CSV text.") from None
    if not rows:
        raise CamdemoError(f"{name.capitalize()} has no numbers in it.")
    values = np.asarray(rows, dtype=np.float64)
    if values.shape[0] == 1 or values.shape[1] == 1:  # one row or one column: a signal
        values = values.reshape(-1)
    return _checked(values, name.capitalize(), max_cells)


def _numbers(fields: list[str], number: int, name: str, first_row: bool) -> list[float] | None:
    """One CSV line's numbers; None for a header (a first line with no number in it at all: a first line with a
    typo among numbers is an error, not a header)."""
    fields = [field.strip() for field in fields if field.strip() != ""]
    try:
        return [float(field) for field in fields]
    except ValueError:
        if first_row and number == 1 and not any(_is_number(field) for field in fields):
            return None  # a header: names only
        bad = next(field for field in fields if not _is_number(field))
        raise CamdemoError(f"Line {number} of {name} has '{bad[:20]}', which is not a number.") from None


def _dialect(first: str) -> type[csv.Dialect]:
    class Separated(csv.excel):
        delimiter = next((mark for mark in ",;\t" if mark in first), " ")
        skipinitialspace = True

    return Separated


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_cells(cells: int, shape, name: str, max_cells: int) -> None:
    if cells > max_cells:
        what = f" ({' × '.join(map(str, shape))} = {cells:,} values)" if shape is not None else ""
        raise CamdemoError(f"{name.capitalize()} is too large{what}. camdemo accepts up to {max_cells:,} values "
                           "(a 2048 × 2048 matrix); crop or downsample it first.")


def _checked(values: np.ndarray, name: str, max_cells: int) -> np.ndarray:
    if values.dtype.kind not in "biuf":
        raise CamdemoError(f"{name} holds {values.dtype} values; camdemo needs numbers.")
    if values.ndim not in (1, 2, 3):
        raise CamdemoError(f"{name} has {values.ndim} dimensions {tuple(values.shape)}; camdemo reads a signal (1), "
                           "a matrix (2) or a channels × rows × columns stack (3).")
    if values.size == 0:
        raise CamdemoError(f"{name} is empty {tuple(values.shape)}.")
    if values.ndim == 3 and values.shape[0] > MAX_CHANNELS:
        raise CamdemoError(f"{name} is {tuple(values.shape)}: a stack is read channels first (C × H × W), and "
                           f"{values.shape[0]} channels is more than {MAX_CHANNELS}. Transpose it to C × H × W.")
    _check_cells(values.size, values.shape, name, max_cells)
    with np.errstate(over="ignore"):
        result = values.astype(np.float32)
    if values.dtype.kind == "f" and np.isfinite(values).all() and not np.isfinite(result).all():
        raise CamdemoError(f"{name} has values beyond float32's range (±3.4e38), the precision networks compute in; "
                           "rescale the data first.")
    finite = np.isfinite(result)
    if not finite.all():
        where = tuple(int(i) for i in np.argwhere(~finite)[0])
        kinds = " and ".join(k for k, bad in (("NaN", np.isnan(result).any()), ("infinite", np.isinf(result).any()))
                             if bad)
        raise CamdemoError(f"{name} has {int((~finite).sum())} {kinds} value(s), the first at {where}. Replace them "
                           "(e.g. np.nan_to_num) before explaining: a network cannot be explained on missing values.")
    return result
