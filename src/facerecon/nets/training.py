"""Training of the face regressor: batches from stored samples (tools/make_regressor_data.py), the loss.

A sample is a stored crop (wider than the regressor's window) with its camera, MediaPipe's landmarks (or
none) and the labels. Each batch cuts a jittered window out of it, so the regressor learns boxes that sit
a little off (a detector's box, a user's bbox), and drops the landmarks of some real samples, so the
image branch learns to stand alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from facerecon.camera import CropWindow, PerspectiveCamera
from facerecon.model.face_model import FaceModel, LinearShapeModel
from facerecon.nets.codec import anchor_from_position, encode
from facerecon.nets.regressor import CROP_MARGIN, CROP_SIZE, N_OUTPUTS, SLICES, FaceRegressor, rotation_from_6d
from facerecon.parameters import FitResult

SHIFT_JITTER = 0.06  # of the box side
SCALE_JITTER = 0.1
LANDMARK_DROPOUT = 0.2  # share of real samples shown without landmarks
LANDMARK_NOISE = 0.5  # pixels of the stored crop
PROJECTION_WEIGHT = 10.0  # the 468 points' crop-plane error (in crop widths) against the normalised labels
APPEARANCE = np.r_[SLICES["lighting"], SLICES["albedo"]]


@dataclass
class Batch:
    image: torch.Tensor  # (B, 3, S, S) in [0, 1]
    landmarks: torch.Tensor  # (B, 468, 2) crop widths from the centre
    has_landmarks: torch.Tensor  # (B, 1)
    target: torch.Tensor  # (B, N_OUTPUTS) labels in physical units
    has_appearance: torch.Tensor  # (B,) bool
    focal: torch.Tensor  # (B,) crop camera
    centre: torch.Tensor  # (B, 2)


def make_batch(
    data: dict[str, np.ndarray], indices: np.ndarray, anchor: np.ndarray, rng: np.random.Generator | None
) -> Batch:
    """Crops and labels of the stored samples `indices`; rng=None: no augmentation (evaluation)."""
    images, points, flags, targets, cameras = [], [], [], [], []
    store_size = data["image"].shape[1]
    for i in indices:
        box = data["box"][i].astype(np.float64)
        margin, shift, drop, noise = CROP_MARGIN, np.zeros(2), False, 0.0
        if rng is not None:
            drop = not data["synthetic"][i] and rng.random() < LANDMARK_DROPOUT
            if (drop or not data["has_landmarks"][i]) and rng.random() < 0.5:
                box = data["box68"][i].astype(np.float64)  # a box drawn the 68-landmark way, as users do
            side = max(box[2] - box[0], box[3] - box[1])
            margin *= 1 + rng.uniform(-SCALE_JITTER, SCALE_JITTER)
            shift = rng.uniform(-SHIFT_JITTER, SHIFT_JITTER, 2) * side
            noise = LANDMARK_NOISE
        window = CropWindow.around(box + np.r_[shift, shift], CROP_SIZE, margin)
        f, cx, cy = data["camera"][i]
        camera = window.camera(PerspectiveCamera(f, cx, cy, store_size, store_size))
        images.append(window.warp(data["image"][i]))
        lm = data["landmarks"][i] + (rng.normal(0, noise, data["landmarks"][i].shape) if rng is not None else 0)
        points.append(window.to_crop(lm) / CROP_SIZE - 0.5)
        flags.append(float(data["has_landmarks"][i] and not drop))
        fit = FitResult(data["rotation"][i], data["translation"][i], data["identity"][i], data["expression"][i],
                        camera)  # fmt: skip
        targets.append(encode(fit, data["lighting"][i], data["albedo"][i], camera, anchor))
        cameras.append([camera.focal, camera.cx, camera.cy])
    cams = torch.tensor(np.array(cameras), dtype=torch.float32)
    return Batch(
        image=torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255,
        landmarks=torch.tensor(np.array(points), dtype=torch.float32),
        has_landmarks=torch.tensor(flags, dtype=torch.float32)[:, None],
        target=torch.tensor(np.array(targets), dtype=torch.float32),
        has_appearance=torch.from_numpy(data["has_appearance"][indices].astype(bool)),
        focal=cams[:, 0],
        centre=cams[:, 1:],
    )


def label_boxes68(data: dict[str, np.ndarray], model: FaceModel) -> np.ndarray:
    """(N, 4) boxes of the labels' 68 landmarks in the stored crops: the tighter box (brows to chin) that
    300-W style annotations and many users draw."""
    with torch.no_grad():
        points = model.landmarks68_model(
            torch.from_numpy(data["identity"]).float(), torch.from_numpy(data["expression"]).float()
        ).double()
    rotation, translation = torch.from_numpy(data["rotation"]), torch.from_numpy(data["translation"])
    camera = points @ rotation.transpose(1, 2) + translation[:, None]
    f, cx, cy = (torch.from_numpy(data["camera"][:, k])[:, None] for k in range(3))
    depth = -camera[..., 2]
    x, y = cx + f * camera[..., 0] / depth, cy - f * camera[..., 1] / depth
    return torch.stack([x.min(1).values, y.min(1).values, x.max(1).values, y.max(1).values], dim=1).numpy()


def label_statistics(data: dict[str, np.ndarray], anchor: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of every output over the samples (appearance over those that have it)."""
    batch = make_batch(data, np.arange(len(data["image"])), anchor, None)
    mean, std = batch.target.mean(0), batch.target.std(0)
    with_appearance = batch.target[batch.has_appearance]
    mean[APPEARANCE], std[APPEARANCE] = with_appearance[:, APPEARANCE].mean(0), with_appearance[:, APPEARANCE].std(0)
    return mean, std.clamp_min(1e-3)


def projected_points(
    output: torch.Tensor, points_model: LinearShapeModel, anchor: torch.Tensor, batch: Batch
) -> torch.Tensor:
    """The model points of each output (B, N, 2), in crop widths."""
    rotation = rotation_from_6d(output[:, SLICES["rotation"]])
    translation = anchor_from_position(output[:, SLICES["position"]], batch.focal, batch.centre, CROP_SIZE)
    translation = translation - rotation @ anchor
    points = points_model(output[:, SLICES["identity"]], output[:, SLICES["expression"]])
    camera = points @ rotation.transpose(1, 2) + translation[:, None]
    depth = (-camera[..., 2]).clamp_min(1e-3)
    x = batch.centre[:, None, 0] + batch.focal[:, None] * camera[..., 0] / depth
    y = batch.centre[:, None, 1] - batch.focal[:, None] * camera[..., 1] / depth
    return torch.stack([x, y], dim=-1) / CROP_SIZE


def regressor_loss(
    net: FaceRegressor, batch: Batch, points_model: LinearShapeModel, anchor: torch.Tensor
) -> tuple[torch.Tensor, dict[str, float]]:
    """Normalised parameter error (appearance only where labelled) + the projected points' error."""
    predicted = net.normalised(batch.image, batch.landmarks, batch.has_landmarks)
    target = (batch.target - net.output_mean) / net.output_std
    squared = (predicted - target).pow(2)
    geometry_mask = torch.ones(N_OUTPUTS, dtype=torch.bool)
    geometry_mask[APPEARANCE] = False
    geometry = squared[:, geometry_mask].mean()
    has = batch.has_appearance
    appearance = squared[has][:, ~geometry_mask].mean() if has.any() else torch.zeros(())
    output = predicted * net.output_std + net.output_mean
    error = projected_points(output, points_model, anchor, batch) - projected_points(
        batch.target, points_model, anchor, batch
    )
    projection = error.norm(dim=-1).mean()
    loss = geometry + appearance + PROJECTION_WEIGHT * projection
    parts = {"geometry": geometry, "appearance": appearance, "points_px": projection * CROP_SIZE}
    return loss, {k: float(v.detach()) for k, v in parts.items()}
