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
    polygons = [np.rint(t * (1 << shift)).astype(np.int32) for t in tri[cross < 0]]
    wire = out.copy()
    cv2.polylines(wire, polygons, True, (60, 230, 90), max(1, round(scale)), cv2.LINE_AA, shift)
    out = cv2.addWeighted(wire, 0.6, out, 0.4, 0)
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
