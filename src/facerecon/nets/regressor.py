"""The face regressor: aligned crop (+ MediaPipe's landmarks when found) -> all face parameters in one pass.

Outputs, in this order (PARAMETER_SIZES): identity (64, standard deviations), expression (52, ARKit
weights), rotation (6: the first two columns of R, Zhou et al.'s continuous representation), position (3:
the face anchor's crop position (u, v) in crop widths from the centre and log(depth * crop size / focal)),
lighting (27: SH x RGB) and albedo (300: Laplacian albedo modes x RGB). The network predicts them
normalised by the training labels' mean and std (kept as buffers), so its output is in physical units.

The landmark branch takes MediaPipe's 468 surface points in crop coordinates and a flag that says whether
they exist: where MediaPipe finds no face (profiles), the image branch alone must carry the prediction.

A second head reads AFLW's 21 points (the points as its annotators placed them, in crop widths from the
centre) and a visibility logit for each from the same features, trained with the rest frozen on AFLW's
labelled train crops (tools/train_aflw21_head.py): on a turned head its points are where the model's pose
is refitted (facerecon.fit.profile_pose), the parameters alone being coarser there.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from facerecon.nets.resnet import ResNet18

CROP_SIZE = 128  # pixels of the aligned square face crop the network sees
CROP_MARGIN = 1.3  # crop side / longer side of the face box
N_LANDMARKS = 468
PARAMETER_SIZES = {"identity": 64, "expression": 52, "rotation": 6, "position": 3, "lighting": 27, "albedo": 300}
N_OUTPUTS = sum(PARAMETER_SIZES.values())
N_AFLW21 = 21
RESNET_WIDTH = 32
HIDDEN = 512


def parameter_slices() -> dict[str, slice]:
    slices, start = {}, 0
    for name, size in PARAMETER_SIZES.items():
        slices[name] = slice(start, start + size)
        start += size
    return slices


SLICES = parameter_slices()


class FaceRegressor(nn.Module):
    """image (B, 3, 128, 128) in [0, 1], landmarks (B, 468, 2) in crop widths from the crop centre,
    has_landmarks (B, 1) in {0, 1} -> parameters (B, N_OUTPUTS) and AFLW's 21 points (B, 63)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = ResNet18(RESNET_WIDTH)
        self.landmark_branch = nn.Sequential(
            nn.Linear(2 * N_LANDMARKS + 1, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU()
        )
        self.head = nn.Sequential(
            nn.Linear(self.encoder.features + HIDDEN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, N_OUTPUTS)
        )
        nn.init.zeros_(self.head[-1].weight)  # start at the mean of the labels
        nn.init.zeros_(self.head[-1].bias)
        self.register_buffer("output_mean", torch.zeros(N_OUTPUTS))
        self.register_buffer("output_std", torch.ones(N_OUTPUTS))
        self.aflw21_head = nn.Sequential(
            nn.Linear(self.encoder.features + HIDDEN, HIDDEN),
            nn.ReLU(),
            nn.Linear(HIDDEN, HIDDEN),
            nn.ReLU(),
            nn.Linear(HIDDEN, 3 * N_AFLW21),
        )

    def features(self, image: torch.Tensor, landmarks: torch.Tensor, has_landmarks: torch.Tensor) -> torch.Tensor:
        """What both heads read: the image's and the landmarks' features side by side."""
        points = torch.cat([landmarks.flatten(1) * has_landmarks, has_landmarks], dim=1)
        return torch.cat([self.encoder(image - 0.5), self.landmark_branch(points)], dim=1)

    def normalised(self, image: torch.Tensor, landmarks: torch.Tensor, has_landmarks: torch.Tensor) -> torch.Tensor:
        """The prediction in units of the labels' std around their mean (what training compares)."""
        return self.head(self.features(image, landmarks, has_landmarks))

    def forward(
        self, image: torch.Tensor, landmarks: torch.Tensor, has_landmarks: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """parameters (B, N_OUTPUTS) in physical units, and aflw21 (B, 63): AFLW's 21 points (x, y) in crop
        widths from the centre, then their 21 visibility logits."""
        features = self.features(image, landmarks, has_landmarks)
        return self.head(features) * self.output_std + self.output_mean, self.aflw21_head(features)


def rotation_from_6d(six: torch.Tensor) -> torch.Tensor:
    """(..., 6) two matrix columns -> (..., 3, 3) rotation by Gram-Schmidt."""
    a, b = six[..., :3], six[..., 3:]
    x = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    b = b - (x * b).sum(-1, keepdim=True) * x
    y = b / b.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    return torch.stack([x, y, torch.cross(x, y, dim=-1)], dim=-1)


def rotation_to_6d(rotation: np.ndarray) -> np.ndarray:
    return np.concatenate([rotation[:, 0], rotation[:, 1]])
