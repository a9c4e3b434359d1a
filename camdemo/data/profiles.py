"""Which rows and columns matter: an attribution map summed per row and per column, with the top ones listed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TOP = 5


@dataclass(frozen=True)
class Profiles:
    """``rows[i]`` = Σ_j M[i, j] and ``columns[j]`` = Σ_i M[i, j] of a map M (in the map's own units, signed);
    ``top_rows`` / ``top_columns``: the indices of the largest sums, largest first."""

    rows: np.ndarray
    columns: np.ndarray
    top_rows: tuple[int, ...]
    top_columns: tuple[int, ...]


def profiles(values: np.ndarray, top: int = TOP) -> Profiles:
    """The row and column sums of a 2-D map (a 1-D map is one row)."""
    matrix = np.atleast_2d(np.asarray(values, dtype=np.float64))
    rows, columns = matrix.sum(axis=1), matrix.sum(axis=0)
    return Profiles(rows.astype(np.float32), columns.astype(np.float32), _largest(rows, top), _largest(columns, top))


def _largest(sums: np.ndarray, top: int) -> tuple[int, ...]:
    order = np.argsort(-sums, kind="stable")
    return tuple(int(i) for i in order[:top])
