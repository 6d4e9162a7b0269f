"""Video frames: pose and expression with the identity fixed, a few Gauss-Newton steps from the last frame.

With the identity fixed, the model's landmark points are linear in the expression weights, and the pose
moves little from one frame to the next: a handful of damped Gauss-Newton steps on the same cost as the
landmark fit (visibility-weighted reprojection error in face-size units, MediaPipe's oval sliding on the
silhouette, an L1 prior on expressions, weights kept in [0, 1]) replace a fresh autograd L-BFGS fit.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.linalg import solve_triangular
from scipy.optimize import lsq_linear
from scipy.spatial.transform import Rotation

from facerecon.camera import PerspectiveCamera
from facerecon.fit.landmark_fit import EXPRESSION_L1, FaceParameters, LandmarkFitter, LandmarkTerm
from facerecon.parameters import FitResult

STEPS = 2  # from the last frame (4 gave the same figures in benchmarks/video.py)
REPICK_EVERY = 2  # steps between re-picks of the visibility weights and the oval's silhouette points
DAMPING = 1e-3  # Levenberg-Marquardt: relative to the mean diagonal of the normal matrix


class ExpressionTracker:
    """Holds the identity-fixed landmark model; `fit` follows one face from frame to frame."""

    def __init__(self, fitter: LandmarkFitter, identity: np.ndarray):
        self.fitter = fitter
        shape = fitter.points_model
        with torch.no_grad():
            neutral = shape.mean + torch.einsum("k,knd->nd", torch.from_numpy(identity).float(), shape.identity_basis)
        self.identity = identity
        self.neutral = neutral.numpy().astype(np.float64)  # (N, 3)
        self.basis = shape.expression_basis.numpy().astype(np.float64).transpose(1, 2, 0)  # (N, 3, E)

    def fit(self, landmarks: np.ndarray, start: FitResult, steps: int = STEPS) -> FitResult:
        """landmarks: MediaPipe's (478, 2+) pixels; start: the previous frame's fit (same identity)."""
        camera = start.camera
        rotation, translation = start.rotation.copy(), start.translation.copy()
        expression = np.clip(start.expression, 0.0, 1.0)
        term = LandmarkTerm(self.fitter, landmarks, camera)
        observed = term.observed.numpy().astype(np.float64)
        for k in range(steps):
            if k % REPICK_EVERY == 0:  # visibility and the oval's silhouette points at the current pose
                term.update(FaceParameters.start(rotation, translation, self.identity, expression))
                rows, weights = term.rows.numpy(), term.weights.numpy().astype(np.float64)
                w = np.repeat(weights, 2) / (term.scale**2 * weights.sum())
            pixels, jacobian = self.project(rows, rotation, translation, expression, camera)
            delta = self.bounded_step(jacobian * np.sqrt(w)[:, None], -(pixels - observed).reshape(-1) * np.sqrt(w),
                                      expression)  # fmt: skip
            rotation = Rotation.from_rotvec(delta[:3]).as_matrix() @ rotation
            translation = translation + delta[3:6]
            expression = np.clip(expression + delta[6:], 0.0, 1.0)
        params = FaceParameters.start(rotation, translation, self.identity, expression)
        return params.result(camera, term.statistics(params) | {"method": "tracked"})

    def bounded_step(self, a: np.ndarray, b: np.ndarray, expression: np.ndarray) -> np.ndarray:
        """The damped Gauss-Newton step (6 + E,) minimising |a step - b|² / 2 + the L1 prior, with the
        expression weights kept in [0, 1] (unbounded, directions the landmarks barely see would take huge
        steps and be clipped into nonsense)."""
        hessian = a.T @ a
        hessian += np.eye(len(hessian)) * DAMPING * np.mean(np.diag(hessian))
        target = a.T @ b
        target[6:] -= EXPRESSION_L1 / 2  # the prior's slope on non-negative weights (the cost is halved here)
        low = np.concatenate([np.full(6, -np.inf), -expression])
        high = np.concatenate([np.full(6, np.inf), 1.0 - expression])
        return box_qp(hessian, target, low, high)

    def project(
        self, rows: np.ndarray, rotation: np.ndarray, translation: np.ndarray, expression: np.ndarray,
        camera: PerspectiveCamera,
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """Pixels (N, 2) of the model points `rows` and their Jacobian (2N, 6 + E) with respect to a small
        rotation vector applied before `rotation`, the translation and the expression weights."""
        rotated = (self.neutral[rows] + self.basis[rows] @ expression) @ rotation.T
        points = rotated + translation
        depth = -points[:, 2]
        pixels = np.column_stack([camera.cx + camera.focal * points[:, 0] / depth,
                                  camera.cy - camera.focal * points[:, 1] / depth])  # fmt: skip
        d_pixel = np.zeros((len(points), 2, 3))  # d(pixel) / d(camera point)
        d_pixel[:, 0, 0] = camera.focal / depth
        d_pixel[:, 0, 2] = camera.focal * points[:, 0] / depth**2
        d_pixel[:, 1, 1] = -camera.focal / depth
        d_pixel[:, 1, 2] = -camera.focal * points[:, 1] / depth**2
        # Camera point = exp([w]x) R p + t: d/dw = -[R p]x at w = 0; d/dt = I; d/de = R B.
        cross = np.zeros((len(points), 3, 3))
        cross[:, 0, 1], cross[:, 0, 2] = rotated[:, 2], -rotated[:, 1]
        cross[:, 1, 0], cross[:, 1, 2] = -rotated[:, 2], rotated[:, 0]
        cross[:, 2, 0], cross[:, 2, 1] = rotated[:, 1], -rotated[:, 0]
        d_point = np.concatenate(
            [cross, np.broadcast_to(np.eye(3), cross.shape), np.einsum("ij,njk->nik", rotation, self.basis[rows])],
            axis=2,
        )
        return pixels, np.einsum("nij,njk->nik", d_pixel, d_point).reshape(-1, d_point.shape[2])


def box_qp(hessian: np.ndarray, target: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """argmin x'Hx / 2 - target'x subject to low <= x <= high, H positive definite: with H = LL', the bounded
    least squares |L'x - L^-1 target|² (BVLS on the small square system, not on the tall Jacobian)."""
    lower = np.linalg.cholesky(hessian)
    return lsq_linear(lower.T, solve_triangular(lower, target, lower=True), bounds=(low, high), method="bvls").x
