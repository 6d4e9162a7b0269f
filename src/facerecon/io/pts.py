"""iBUG / 300-W .pts landmark files."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_pts(path: str | Path) -> np.ndarray:
    """Points of a .pts file as (N, 2) float64, converted from its 1-based pixels to our 0-based ones."""
    lines = Path(path).read_text().split("\n")
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "{") + 1
        end = next(i for i in range(start, len(lines)) if lines[i].strip() == "}")
        n_points = next(int(line.split(":")[1]) for line in lines if line.strip().startswith("n_points"))
        points = np.array([[float(v) for v in lines[i].split()] for i in range(start, end)], dtype=np.float64)
    except (StopIteration, ValueError, IndexError) as exc:
        raise ValueError(f"malformed .pts file {path}: {exc}") from None
    if points.shape != (n_points, 2):
        raise ValueError(f"malformed .pts file {path}: {points.shape[0]} points, header says {n_points}")
    return points - 1.0


def write_pts(path: str | Path, points: np.ndarray) -> None:
    """Inverse of read_pts: 0-based (N, 2) points written 1-based."""
    body = "\n".join(f"{x + 1:.3f} {y + 1:.3f}" for x, y in np.asarray(points, dtype=np.float64))
    Path(path).write_text(f"version: 1\nn_points: {len(points)}\n{{\n{body}\n}}\n")
