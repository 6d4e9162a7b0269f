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

    def as_dict(self) -> dict:
        return asdict(self)


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
