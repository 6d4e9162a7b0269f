"""Pinhole camera and rotations shared by the fitter, the renderer and the exporters.

Convention (the one of OpenGL, glTF and Blender): the camera sits at the origin looking down -Z, +X is
image right, +Y is image up; lengths in centimetres. Pixel coordinates are 0-based with pixel (0, 0)'s
centre at (0, 0), x to the right, y down. A model-space point X maps to the camera as R @ X + t.

Euler angles (degrees): R = Ry(yaw) @ Rx(pitch) @ Rz(roll), right-handed rotations about the camera
axes. A frontal face (model +Z towards the camera) has R = I. Positive yaw turns the nose towards image
right (the subject's left), positive pitch turns it down, positive roll turns the face counter-clockwise
as seen in the image.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np
import torch

SENSOR_DIAGONAL_35MM = 43.27  # mm, the diagonal of a 36 x 24 mm frame
DEFAULT_FOCAL_35MM = 50.0  # a "normal" lens, used when the photo carries no EXIF focal length


@dataclass(frozen=True)
class PerspectiveCamera:
    focal: float  # pixels
    cx: float
    cy: float
    width: int
    height: int
    focal_source: str = "default"  # "exif" or "default"

    @classmethod
    def for_image(cls, width: int, height: int, focal_35mm: float | None = None) -> PerspectiveCamera:
        """Centred principal point; focal from a 35 mm-equivalent focal length (EXIF), else 50 mm."""
        source = "exif" if focal_35mm else "default"
        focal = (focal_35mm or DEFAULT_FOCAL_35MM) * math.hypot(width, height) / SENSOR_DIAGONAL_35MM
        return cls(focal, (width - 1) / 2, (height - 1) / 2, width, height, source)

    def intrinsics(self) -> np.ndarray:
        """3x3 OpenCV-style K (for cv2, whose camera looks down +Z with +Y down)."""
        return np.array([[self.focal, 0, self.cx], [0, self.focal, self.cy], [0, 0, 1.0]])

    def project(self, points: torch.Tensor) -> torch.Tensor:
        """Camera-space points (..., 3) -> pixel coordinates (..., 2). Points must have Z < 0."""
        depth = (-points[..., 2]).clamp_min(1e-6)
        x = self.cx + self.focal * points[..., 0] / depth
        y = self.cy - self.focal * points[..., 1] / depth
        return torch.stack([x, y], dim=-1)

    def to_screen(self, points: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Camera-space points (N, 3) -> (N, 3): x, y pixels and depth (cm in front of the camera). NumPy in,
        NumPy out; a tensor in, a differentiable tensor out."""
        if isinstance(points, np.ndarray):
            return self.to_screen(torch.from_numpy(points.astype(np.float64))).numpy()
        return torch.cat([self.project(points), -points[..., 2:]], dim=-1)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class CropWindow:
    x0: float  # top-left corner of the window, photo pixels
    y0: float
    side: float  # photo pixels
    size: int  # output pixels

    @classmethod
    def around(cls, box: np.ndarray, size: int, margin: float) -> CropWindow:
        """The window of `size` output pixels centred on box [x0, y0, x1, y1], `margin` times its longer side."""
        box = np.asarray(box, dtype=np.float64)
        side = max(box[2] - box[0], box[3] - box[1], 1.0) * margin
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        return cls(float(cx - side / 2), float(cy - side / 2), float(side), size)

    @property
    def scale(self) -> float:
        """Output pixels per photo pixel."""
        return self.size / self.side

    def warp(self, image: np.ndarray) -> np.ndarray:
        """The window of an (H, W, C) image as (size, size, C); outside the photo is black. Where the window
        shrinks the photo, its region is area-filtered first (warpAffine's own interpolation point-samples,
        which aliases a 12 MP face down to a few hundred pixels)."""
        s, x0, y0 = self.scale, self.x0, self.y0
        if s < 1:
            h, w = image.shape[:2]
            left, top = max(int(np.floor(x0)) - 1, 0), max(int(np.floor(y0)) - 1, 0)
            right, bottom = min(int(np.ceil(x0 + self.side)) + 2, w), min(int(np.ceil(y0 + self.side)) + 2, h)
            if right > left and bottom > top:
                out_w, out_h = max(round((right - left) * s), 1), max(round((bottom - top) * s), 1)
                image = cv2.resize(image[top:bottom, left:right], (out_w, out_h), interpolation=cv2.INTER_AREA)
                # A pixel centre u of the shrunk region is region pixel (u + 1/2) / shrink - 1/2.
                sx, sy = out_w / (right - left), out_h / (bottom - top)
                matrix = np.array([[s / sx, 0, s * (0.5 / sx - 0.5 + left - x0)],
                                   [0, s / sy, s * (0.5 / sy - 0.5 + top - y0)]])  # fmt: skip
                return cv2.warpAffine(image, matrix, (self.size, self.size), flags=cv2.INTER_LINEAR)
        matrix = np.array([[s, 0, -x0 * s], [0, s, -y0 * s]])
        return cv2.warpAffine(image, matrix, (self.size, self.size), flags=cv2.INTER_LINEAR)

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """Photo pixels (N, 2+) -> crop pixels (N, 2), in their dtype."""
        points = np.asarray(points)[:, :2]
        return (points - np.array([self.x0, self.y0], dtype=points.dtype)) * self.scale

    def from_crop(self, points: np.ndarray) -> np.ndarray:
        """Crop pixels (N, 2+) -> photo pixels (N, 2), in their dtype."""
        points = np.asarray(points)
        out = np.empty((len(points), 2), dtype=points.dtype)
        # Column by column: NumPy broadcasts over a 2-wide array with a 2-long inner loop per row, ~4x slower
        # on a texture's ~900k texels.
        out[:, 0] = points[:, 0] / self.scale + points.dtype.type(self.x0)
        out[:, 1] = points[:, 1] / self.scale + points.dtype.type(self.y0)
        return out

    def camera(self, photo: PerspectiveCamera) -> PerspectiveCamera:
        """The photo's camera seen through this window."""
        s = self.scale
        cx, cy = (photo.cx - self.x0) * s, (photo.cy - self.y0) * s
        return PerspectiveCamera(photo.focal * s, cx, cy, self.size, self.size, photo.focal_source)


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula: (..., 3) axis * angle in radians -> (..., 3, 3); differentiable at zero."""
    theta2 = (axis_angle * axis_angle).sum(-1, keepdim=True)[..., None]
    theta = torch.sqrt(theta2 + 1e-12)
    x, y, z = axis_angle.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).view(*axis_angle.shape[:-1], 3, 3)
    # sin(t)/t and (1 - cos(t))/t² with their Taylor series near zero.
    small = theta2 < 1e-8
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / theta2.clamp_min(1e-12))
    eye = torch.eye(3, dtype=axis_angle.dtype).expand_as(k)
    return eye + a * k + b * (k @ k)


def euler_to_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Degrees -> R = Ry(yaw) @ Rx(pitch) @ Rz(roll)."""
    a, b, c = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return ry @ rx @ rz


def matrix_to_euler(rotation: np.ndarray) -> tuple[float, float, float]:
    """Inverse of euler_to_matrix: (yaw, pitch, roll) in degrees."""
    r = np.asarray(rotation, dtype=np.float64)
    pitch = math.asin(float(np.clip(-r[1, 2], -1.0, 1.0)))
    yaw = math.atan2(r[0, 2], r[2, 2])
    roll = math.atan2(r[1, 0], r[1, 1])
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)
