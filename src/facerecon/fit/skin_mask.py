"""Where the photo shows skin the model can explain: the face inside the jaw and brows, less eyes, brows
and the mouth (iBUG 68-point polygons). The whole mouth goes, lips included: when the fitted lips open
less than the real ones, teeth would otherwise count as skin."""

from __future__ import annotations

import cv2
import numpy as np

JAW = list(range(0, 17))
BROWS = [list(range(17, 22)), list(range(22, 27))]
EYES = [list(range(36, 42)), list(range(42, 48))]
MOUTH = list(range(48, 60))


def skin_mask(landmarks68: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W) bool mask from 68 landmarks in pixels."""
    size = float(np.sqrt(np.prod(landmarks68.max(0) - landmarks68.min(0)))) or 1.0
    mask = np.zeros((height, width), dtype=np.uint8)
    outline = np.concatenate([landmarks68[JAW], landmarks68[26:16:-1]])  # jaw, then brows right to left
    cv2.fillPoly(mask, [_int(outline)], 1)
    thick = max(1, round(size * 0.06))
    for brow in BROWS:
        cv2.polylines(mask, [_int(landmarks68[brow])], False, 0, thick * 2)
    for eye in EYES:
        cv2.fillPoly(mask, [_int(landmarks68[eye])], 0)
        cv2.polylines(mask, [_int(landmarks68[eye])], True, 0, thick)
    cv2.fillPoly(mask, [_int(landmarks68[MOUTH])], 0)
    cv2.polylines(mask, [_int(landmarks68[MOUTH])], True, 0, thick)
    return mask.astype(bool)


def _int(points: np.ndarray) -> np.ndarray:
    return np.rint(points).astype(np.int32)
