"""The fitted parameters of one face, shared by the fitters, the nets, the texture stage and the exporters:
pose, identity and expression (FitResult), and the photometric appearance (Appearance); and points a
network reads in the photo (SeenPoints), which the fitters fit to."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from facerecon.camera import PerspectiveCamera
from facerecon.model.face_model import LinearShapeModel


@dataclass
class FitResult:
    rotation: np.ndarray  # (3, 3) model -> camera
    translation: np.ndarray  # (3,) cm, camera space
    identity: np.ndarray  # (K,) standard deviations
    expression: np.ndarray  # (E,) ARKit weights in [0, 1]
    camera: PerspectiveCamera
    stats: dict = field(default_factory=dict)

    def model_vertices(self, model: LinearShapeModel) -> np.ndarray:
        """Fitted shape (N, 3) in model space, cm."""
        with torch.no_grad():
            identity = torch.from_numpy(self.identity).float()[None]
            expression = torch.from_numpy(self.expression).float()[None]
            return model(identity, expression)[0].numpy().astype(np.float64)

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """Model-space points (N, 3) -> camera space."""
        return points @ self.rotation.T + self.translation

    def to_screen(self, points: np.ndarray) -> np.ndarray:
        """Model-space points (N, 3) -> (x, y) pixels and depth (cm in front of the camera), (N, 3)."""
        return self.camera.to_screen(self.to_camera(points))


@dataclass
class Appearance:
    lighting: np.ndarray  # (9, 3) SH coefficients, camera space
    albedo: np.ndarray  # (V, 3) per-vertex albedo in [0, 1]


@dataclass(frozen=True)
class SeenPoints:
    """Points read in a photo: pixels (P, 2), and whether each is seen (P,) bool (not hidden by the head)."""

    pixels: np.ndarray
    seen: np.ndarray
