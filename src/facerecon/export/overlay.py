"""The overlay picture: the fitted mesh's wireframe and the 68 landmarks drawn over the photo."""

from __future__ import annotations

import cv2
import numpy as np


def draw_overlay(
    image: np.ndarray, wire_points: np.ndarray, wire_faces: np.ndarray, landmarks68: np.ndarray
) -> np.ndarray:
    """wire_points: (N, 3) projected mesh points (x, y, depth); wire_faces: (M, 3) their triangles, drawn
    where they face the camera; landmarks68: (68, 2). Returns a new RGB uint8 image."""
    out = image.copy()
    scale = max(image.shape[:2]) / 640.0
    shift = 4  # cv2 sub-pixel bits
    tri = wire_points[wire_faces, :2]
    # Screen y points down, so a triangle facing the camera is clockwise on screen (negative cross).
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    # The wire is blended over its own region only: on a 48 MP photo a full-size copy costs 150 MB.
    pad = max(1, round(scale)) + 2
    h, w = image.shape[:2]
    x0, y0 = np.clip(np.floor(tri.reshape(-1, 2).min(0)).astype(int) - pad, 0, [w, h])
    x1, y1 = np.clip(np.ceil(tri.reshape(-1, 2).max(0)).astype(int) + pad + 1, 0, [w, h])
    if x1 > x0 and y1 > y0:
        region = out[y0:y1, x0:x1]
        wire = region.copy()
        # All triangles in one pass, then a view per triangle (a loop per triangle cost ~6 ms a face).
        polygons = list(np.rint((tri[cross < 0] - [x0, y0]) * (1 << shift)).astype(np.int32))
        cv2.polylines(wire, polygons, True, (60, 230, 90), max(1, round(scale)), cv2.LINE_AA, shift)
        out[y0:y1, x0:x1] = cv2.addWeighted(wire, 0.6, region, 0.4, 0)
    for x, y in landmarks68:
        cv2.circle(
            out,
            (round(x * 16), round(y * 16)),
            max(2, round(2 * scale)) * 16,
            (255, 40, 40),
            -1,
            cv2.LINE_AA,
            4,
        )
    return out
