"""A turned head's pose, refitted to AFLW's 21 points as the regressor's second head reads them.

Beyond the pipeline's PROFILE_YAW the regressor's parameters are the answer (MediaPipe's points lean
frontal there), and its points are coarse: on AFLW train crops that no training saw, at 60-90° of yaw,
the model's 21 calibrated points sit 7.4 % (NME) from the labels where the point head reads them at
6.2 %. A least-squares refit of the rotation and translation to the points the head sees moves the
model's points towards them (the 68 -> 21 NME at 60-90°: 8.03 -> 7.77 % in benchmarks/aflw21.py
--split train). A stiff prior keeps the regressor's yaw: fitted freely, its error grew (9.7° -> 10.8°).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares
from scipy.spatial.transform import Rotation

from facerecon.model.face_model import FaceModel
from facerecon.parameters import FitResult, SeenPoints

# Square roots of the weights per squared radian of turn away from the regressor's rotation, beside the
# seen points' summed squared errors in face sizes: loose for pitch and roll, stiff for yaw (tuned on the
# held-out AFLW train crops).
TURN_PRIOR = np.sqrt([0.1, 10.0, 0.1])  # about the camera's x (pitch), y (yaw) and z (roll) axes
MIN_POINTS = 4  # fewer seen points leave the pose to the regressor


class ProfilePoseFitter:
    """Holds the linear model of AFLW's 21 calibrated surface points."""

    def __init__(self, model: FaceModel) -> None:
        self.points = model.embedded(model.aflw21)

    def fit(self, start: FitResult, aflw21: SeenPoints) -> FitResult:
        """`start` with its rotation and translation refitted so that its 21 points land on the seen ones
        of `aflw21`; identity and expression stay."""
        visible = aflw21.seen
        if visible.sum() < MIN_POINTS:
            return start
        model_points = start.model_vertices(self.points)
        seen = aflw21.pixels[visible]
        size = float(np.sqrt(np.prod(np.ptp(seen, axis=0))))

        def posed(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # x: turn (camera axes), shift (cm)
            return Rotation.from_rotvec(x[:3]).as_matrix() @ start.rotation, start.translation + x[3:]

        def residuals(x: np.ndarray) -> np.ndarray:
            rotation, translation = posed(x)
            pixels = start.camera.to_screen(model_points[visible] @ rotation.T + translation)[:, :2]
            return np.concatenate([((pixels - seen) / size).ravel(), TURN_PRIOR * x[:3]])

        # The turn in radians and the shift in cm move the points by similar amounts at ~60 cm.
        solution = least_squares(residuals, np.zeros(6), x_scale=np.r_[0.1, 0.1, 0.1, 1.0, 1.0, 1.0]).x
        rotation, translation = posed(solution)
        return FitResult(rotation, translation, start.identity, start.expression, start.camera, dict(start.stats))
