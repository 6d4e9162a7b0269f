"""Face parameters <-> the regressor's output vector, in the camera of an aligned crop.

Position is coded relative to the crop, so the same face anywhere in any photo has the same code: the
anchor (a fixed model-space point at the centre of the face) projects to crop pixel (u + 1/2, v + 1/2) *
size, at depth exp(z) * focal / size.
"""

from __future__ import annotations

import numpy as np
import torch

from facerecon.camera import PerspectiveCamera
from facerecon.fit.gauss_newton import IDENTITY_LIMIT
from facerecon.model.face_model import FaceModel
from facerecon.nets.regressor import N_OUTPUTS, SLICES, rotation_from_6d, rotation_to_6d
from facerecon.parameters import Appearance, FitResult


def face_anchor(model: FaceModel) -> np.ndarray:
    """The model-space point the position code refers to: the centre of the mean face's MediaPipe points."""
    return model.embedded(model.mediapipe).mean.numpy().astype(np.float64).mean(axis=0)


def anchor_from_position(position: torch.Tensor, focal: torch.Tensor, centre: torch.Tensor, size: int) -> torch.Tensor:
    """position (B, 3) codes, crop focal (B,), principal point (B, 2) -> the anchor in camera space (B, 3)."""
    depth = torch.exp(position[:, 2]) * focal / size
    pixel = position[:, :2] * size + size / 2
    x = (pixel[:, 0] - centre[:, 0]) * depth / focal
    y = -(pixel[:, 1] - centre[:, 1]) * depth / focal
    return torch.stack([x, y, -depth], dim=1)


def encode(
    fit: FitResult, lighting: np.ndarray | None, albedo: np.ndarray | None, crop: PerspectiveCamera, anchor: np.ndarray
) -> np.ndarray:
    """One face's parameters (albedo: Laplacian coefficients (K, 3)) -> the output vector; missing
    appearance is coded as zeros."""
    vector = np.zeros(N_OUTPUTS)
    vector[SLICES["identity"]] = fit.identity
    vector[SLICES["expression"]] = fit.expression
    vector[SLICES["rotation"]] = rotation_to_6d(fit.rotation)
    x, y, depth = crop.to_screen(fit.to_camera(anchor[None]))[0]
    vector[SLICES["position"]] = [x / crop.width - 0.5, y / crop.width - 0.5, np.log(depth * crop.width / crop.focal)]
    if lighting is not None and albedo is not None:
        vector[SLICES["lighting"]] = np.ravel(lighting)
        vector[SLICES["albedo"]] = np.ravel(albedo)
    return vector


def decode(
    vector: np.ndarray, crop: PerspectiveCamera, photo: PerspectiveCamera, anchor: np.ndarray, model: FaceModel
) -> tuple[FitResult, Appearance]:
    """The output vector of a face in `crop` -> its fit in the photo's camera and its appearance."""
    v = torch.as_tensor(np.asarray(vector, dtype=np.float32))[None]
    rotation = rotation_from_6d(v[:, SLICES["rotation"]])[0].double().numpy()
    anchor_camera = (
        anchor_from_position(
            v[:, SLICES["position"]], torch.tensor([crop.focal]), torch.tensor([[crop.cx, crop.cy]]), crop.width
        )[0]
        .double()
        .numpy()
    )
    vector = np.asarray(vector, dtype=np.float64)
    identity = np.clip(vector[SLICES["identity"]], -IDENTITY_LIMIT, IDENTITY_LIMIT)
    expression = np.clip(vector[SLICES["expression"]], 0.0, 1.0)
    fit = FitResult(rotation, anchor_camera - rotation @ anchor, identity, expression, photo, {"method": "regressor"})
    lighting = vector[SLICES["lighting"]].reshape(9, 3)
    coefficients = torch.from_numpy(vector[SLICES["albedo"]].reshape(-1, 3)).float()
    albedo = (model.albedo_basis.T @ coefficients).clamp(0.0, 1.0).double().numpy()
    return fit, Appearance(lighting, albedo)
