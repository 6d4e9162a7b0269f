"""The aligned face crop the regressor sees: a square window around a face box, resampled to a fixed size.

The window is centred on the box and `margin` times its longer side. Its camera is the photo's camera
cropped and scaled, so parameters predicted in the crop are parameters of the photo.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facerecon.camera import PerspectiveCamera

CROP_SIZE = 128  # pixels of the regressor's input
CROP_MARGIN = 1.3  # window side / longer side of the box


@dataclass(frozen=True)
class CropWindow:
    x0: float  # top-left corner of the window, photo pixels
    y0: float
    side: float  # photo pixels
    size: int  # output pixels

    @classmethod
    def around(cls, box: np.ndarray, size: int = CROP_SIZE, margin: float = CROP_MARGIN) -> CropWindow:
        """The window around box [x0, y0, x1, y1]."""
        box = np.asarray(box, dtype=np.float64)
        side = max(box[2] - box[0], box[3] - box[1], 1.0) * margin
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        return cls(float(cx - side / 2), float(cy - side / 2), float(side), size)

    @property
    def scale(self) -> float:
        """Output pixels per photo pixel."""
        return self.size / self.side

    def warp(self, image: np.ndarray) -> np.ndarray:
        """The window of an (H, W, C) image as (size, size, C); outside the photo is black."""
        s = self.scale
        matrix = np.array([[s, 0, -self.x0 * s], [0, s, -self.y0 * s]])
        flags = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        return cv2.warpAffine(image, matrix, (self.size, self.size), flags=flags, borderMode=cv2.BORDER_CONSTANT)

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """Photo pixels (N, 2) -> crop pixels."""
        return (np.asarray(points)[:, :2] - [self.x0, self.y0]) * self.scale

    def from_crop(self, points: np.ndarray) -> np.ndarray:
        """Crop pixels (N, 2) -> photo pixels."""
        return np.asarray(points)[:, :2] / self.scale + [self.x0, self.y0]

    def camera(self, photo: PerspectiveCamera) -> PerspectiveCamera:
        """The photo's camera seen through this window."""
        s = self.scale
        cx, cy = (photo.cx - self.x0) * s, (photo.cy - self.y0) * s
        return PerspectiveCamera(photo.focal * s, cx, cy, self.size, self.size, photo.focal_source)
