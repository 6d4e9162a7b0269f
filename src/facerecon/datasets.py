"""Annotated face photos in ../shared/faces: (photo, 68 points) pairs of HELEN and AFW; AFLW's label rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from facerecon.io.pts import read_pts


def annotated_faces(folder: Path, every: int = 1) -> Iterator[tuple[Path, np.ndarray]]:
    """(photo, 68 points 0-based) for each .pts in the folder, sorted, keeping every `every`-th.

    AFW names the file of face k of a photo NAME_k.pts, beside NAME_k.jpg (the photo, once per face).
    """
    for pts in sorted(Path(folder).glob("*.pts"))[::every]:
        yield pts.with_suffix(".jpg"), read_pts(pts)


def aflw_points(row: dict[str, str]) -> np.ndarray:
    """(21, 2) crop pixels of one row of aflw_crops/labels.csv; (-1, -1) where a point is not annotated."""
    return np.array([[float(row[f"x{k}"]), float(row[f"y{k}"])] for k in range(1, 22)])
