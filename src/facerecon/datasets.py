"""Annotated face photos in ../shared/faces (HELEN, AFW): iterate (photo, 68 points) pairs."""

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
