"""Landmark and shape accuracy."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from facerecon.camera import PerspectiveCamera
from facerecon.model.surface import closest_points_on_mesh, surface_points

if TYPE_CHECKING:
    from facerecon.model.face_model import FaceModel
    from facerecon.reconstruction import Reconstruction

# 3DDFA's AFLW protocol: the 21 points as 1-based indices of the 68 (tuples are averaged). The ears (rows
# 12 and 16) are the jaw line's points 3 and 15.
AFLW21_FROM_68 = [18, 20, 22, 23, 25, 27, 37, tuple(range(37, 43)), 40, 43, tuple(range(43, 49)), 46, 3, 32, 31,
                  36, 15, 49, tuple(range(61, 69)), 55, 9]  # fmt: skip
AFLW21_EARS = (12, 16)


def aflw21_weights() -> np.ndarray:
    """(21, 68) averaging weights: the 21 AFLW points = aflw21_weights() @ the 68 points."""
    weights = np.zeros((21, 68))
    for row, k in enumerate(AFLW21_FROM_68):
        ids = np.array(k if isinstance(k, tuple) else (k,)) - 1
        weights[row, ids] = 1.0 / len(ids)
    return weights


def to_aflw21(points68: np.ndarray) -> np.ndarray:
    """(68, 2) -> (21, 2) by 3DDFA's AFLW mapping."""
    return aflw21_weights() @ points68


def calibrated_aflw21(face: Reconstruction, model: FaceModel) -> np.ndarray:
    """(21, 2) AFLW's points where its annotators put them: the model's calibrated surface points
    (tools/calibrate_aflw21.py) on the fitted head, projected into the photo."""
    posed = surface_points(face.posed_vertices().astype(np.float64), model.faces, model.aflw21.tri, model.aflw21.bary)
    return PerspectiveCamera(**face.camera).project(torch.from_numpy(posed)).numpy()


def nme(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Mean point-to-point error divided by sqrt(width x height) of the ground truth's bounding box."""
    size = np.sqrt(np.prod(truth.max(axis=0) - truth.min(axis=0)))
    return float(np.linalg.norm(predicted - truth, axis=1).mean() / size)


def visible_nme(predicted: np.ndarray, truth: np.ndarray) -> float:
    """nme over the annotated points only: rows of `truth` with a negative coordinate are not annotated."""
    seen = (truth >= 0).all(axis=1)
    return nme(predicted[seen], truth[seen])


def bbox_of(points: np.ndarray) -> np.ndarray:
    """[x0, y0, x1, y1] of (N, 2) points."""
    return np.concatenate([points.min(axis=0), points.max(axis=0)])


def masked_psnr(rendered: np.ndarray, photo: np.ndarray, mask: np.ndarray) -> float:
    """PSNR in dB between two (H, W, 3) images in [0, 255] over the pixels of a boolean mask."""
    diff = (rendered.astype(np.float64) - photo.astype(np.float64))[mask] / 255.0
    return float(10 * np.log10(1.0 / max(np.mean(diff**2), 1e-12)))


def umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity (scale, R, t) with dst ≈ scale * R @ src + t."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(d.T @ s / len(src))
    fix = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ fix @ vt
    scale = float(np.trace(np.diag(sig) @ fix) / s.var(0).sum())
    return scale, rot, mu_d - scale * rot @ mu_s


def apply_similarity(points: np.ndarray, scale: float, rot: np.ndarray, trans: np.ndarray) -> np.ndarray:
    return scale * points @ rot.T + trans


def scan_to_mesh(scan: np.ndarray, vertices: np.ndarray, faces: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """NoW-style shape error: `vertices` (a mesh of the same topology as the true `scan`) similarity-aligned
    to the scan on the vertices `ids`, then the distance (N,) from each of those scan vertices to the
    nearest point on the aligned mesh's surface. The alignment uses the shared topology where NoW uses
    landmarks and ICP; the distance is NoW's scan-to-mesh one."""
    aligned = apply_similarity(vertices, *umeyama(vertices[ids], scan[ids]))
    _, _, nearest = closest_points_on_mesh(scan[ids], aligned, faces)
    return np.linalg.norm(nearest - scan[ids], axis=1)
