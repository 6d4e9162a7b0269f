"""Landmark accuracy."""

from __future__ import annotations

import numpy as np


def nme(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Mean point-to-point error divided by sqrt(width x height) of the ground truth's bounding box."""
    size = np.sqrt(np.prod(truth.max(axis=0) - truth.min(axis=0)))
    return float(np.linalg.norm(predicted - truth, axis=1).mean() / size)


def bbox_of(points: np.ndarray) -> np.ndarray:
    """[x0, y0, x1, y1] of (N, 2) points."""
    return np.concatenate([points.min(axis=0), points.max(axis=0)])


def masked_psnr(rendered: np.ndarray, photo: np.ndarray, mask: np.ndarray) -> float:
    """PSNR in dB between two (H, W, 3) images in [0, 255] over the pixels of a boolean mask."""
    diff = (rendered.astype(np.float64) - photo.astype(np.float64))[mask] / 255.0
    return float(10 * np.log10(1.0 / max(np.mean(diff**2), 1e-12)))
