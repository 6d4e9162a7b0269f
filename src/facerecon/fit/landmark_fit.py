"""Fit pose, identity and expression of the face model to MediaPipe's 2D landmarks (PyTorch autograd).

Start: PnP of the mean face's embedded MediaPipe points (OpenCV), which handles large yaw where gradient
descent from a frontal pose stalls. Then L-BFGS on: reprojection error of the visible landmarks
(self-occluded ones, judged from the model's normals, are weighted down so hidden contours do not drag
the fit) + a standard normal prior on identity + a [0, 1] box and an L1 sparsity prior on expressions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from facerecon.camera import PerspectiveCamera, axis_angle_to_matrix
from facerecon.model.face_model import FaceModel, LinearShapeModel
from facerecon.model.surface import surface_points, vertex_normals

N_MESH_LANDMARKS = 468  # MediaPipe points 468-477 are irises, which are not on the skin
IDENTITY_PRIOR = 2e-4
EXPRESSION_L1 = 2e-4
EXPRESSION_BOX = 1.0
VISIBILITY_SHARPNESS = 0.08  # cosine width of the soft visible/occluded switch


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
        return camera_to_screen(self.camera, self.to_camera(points))


def camera_to_screen(camera: PerspectiveCamera, points: np.ndarray) -> np.ndarray:
    """Camera-space points (N, 3) -> (x, y) pixels and depth in cm, (N, 3)."""
    xy = camera.project(torch.from_numpy(np.asarray(points, dtype=np.float64))).numpy()
    return np.column_stack([xy, -points[:, 2]])


class LandmarkFitter:
    """Holds what is precomputed per model: the embedded landmark model and its rest normals."""

    def __init__(self, model: FaceModel):
        self.model = model
        self.points_model: LinearShapeModel = model.embedded(model.mediapipe)
        mean = model.mean.numpy().astype(np.float64)
        normals = vertex_normals(mean, model.faces)
        embedded = surface_points(normals, model.faces, model.mediapipe.tri, model.mediapipe.bary)
        self.normals = torch.from_numpy(embedded / np.linalg.norm(embedded, axis=1, keepdims=True)).float()
        self.mean_points = self.points_model.mean.numpy().astype(np.float64)

    def fit(self, landmarks: np.ndarray, camera: PerspectiveCamera, iterations: int = 60) -> FitResult:
        """landmarks: (478, 2+) image pixels from MediaPipe; returns the fitted parameters."""
        start = time.perf_counter()
        observed = torch.from_numpy(np.asarray(landmarks[:N_MESH_LANDMARKS, :2], dtype=np.float32))
        rot0, trans0 = self.pnp_start(observed.numpy(), camera)
        scale = float(np.sqrt(np.prod(observed.numpy().max(0) - observed.numpy().min(0)))) or 1.0

        n_id, n_ex = self.points_model.n_identity, self.points_model.n_expression
        delta_rot = torch.zeros(3, requires_grad=True)
        trans = torch.tensor(trans0, dtype=torch.float32, requires_grad=True)
        identity = torch.zeros(n_id, requires_grad=True)
        expression = torch.zeros(n_ex, requires_grad=True)
        rot0_t = torch.from_numpy(rot0).float()

        def pose() -> torch.Tensor:
            return axis_angle_to_matrix(delta_rot) @ rot0_t

        def loss_fn(weights: torch.Tensor, with_shape: bool) -> torch.Tensor:
            points = self.points_model(identity[None], expression[None])[0]
            projected = camera.project(points @ pose().T + trans)
            residual = ((projected - observed) / scale).pow(2).sum(-1)
            loss = (weights * residual).sum() / weights.sum()
            if with_shape:
                loss = loss + IDENTITY_PRIOR * identity.pow(2).sum() / n_id * 10
                loss = loss + EXPRESSION_L1 * expression.abs().sum()
                box = torch.relu(-expression) + torch.relu(expression - 1)
                loss = loss + EXPRESSION_BOX * box.pow(2).sum()
            return loss

        def run(params: list[torch.Tensor], with_shape: bool, steps: int) -> int:
            weights = self.visibility(pose().detach(), trans.detach(), identity.detach(), expression.detach())
            optimizer = torch.optim.LBFGS(params, lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")
            evaluations = 0

            def closure() -> torch.Tensor:
                nonlocal evaluations
                evaluations += 1
                optimizer.zero_grad()
                loss = loss_fn(weights, with_shape)
                loss.backward()
                return loss

            optimizer.step(closure)
            return evaluations

        evaluations = run([delta_rot, trans], False, 15)
        evaluations += run([delta_rot, trans, identity, expression], True, iterations)
        evaluations += run([delta_rot, trans, identity, expression], True, iterations // 2)

        with torch.no_grad():
            expression.clamp_(0.0, 1.0)
            weights = self.visibility(pose(), trans, identity, expression)
            points = self.points_model(identity[None], expression[None])[0]
            err = (camera.project(points @ pose().T + trans) - observed).norm(dim=-1)
            visible = weights > 0.5
            rmse = float(err[visible].pow(2).mean().sqrt()) if visible.any() else float("nan")
        return FitResult(
            rotation=pose().detach().numpy().astype(np.float64),
            translation=trans.detach().numpy().astype(np.float64),
            identity=identity.detach().numpy().astype(np.float64),
            expression=expression.detach().numpy().astype(np.float64),
            camera=camera,
            stats={
                "landmark_rmse_px": rmse,
                "visible_landmarks": int(visible.sum()),
                "evaluations": evaluations,
                "seconds": time.perf_counter() - start,
            },
        )

    def pnp_start(self, observed: np.ndarray, camera: PerspectiveCamera) -> tuple[np.ndarray, np.ndarray]:
        """Pose of the mean face from its 468 embedded points (EPnP, then Levenberg-Marquardt)."""
        obj = self.mean_points.astype(np.float64)
        img = observed.astype(np.float64)
        k = camera.intrinsics()
        ok, rvec, tvec = cv2.solvePnP(obj, img, k, None, flags=cv2.SOLVEPNP_EPNP)
        if ok:
            ok, rvec, tvec = cv2.solvePnP(obj, img, k, None, rvec, tvec, True, flags=cv2.SOLVEPNP_ITERATIVE)
        # OpenCV's camera looks down +Z with +Y down; ours looks down -Z with +Y up.
        flip = np.diag([1.0, -1.0, -1.0])
        rot, trans = flip @ cv2.Rodrigues(rvec)[0], flip @ tvec.ravel()
        if not ok or trans[2] >= -1.0:  # degenerate: a frontal face at a plausible distance
            rot, trans = np.eye(3), np.array([0.0, 0.0, -camera.focal * 15.0 / max(camera.width, 1)])
        return rot, trans

    def visibility(
        self, rotation: torch.Tensor, trans: torch.Tensor, identity: torch.Tensor, expression: torch.Tensor
    ) -> torch.Tensor:
        """Soft weight per landmark: ~1 where its surface normal faces the camera, ~0 where it faces away."""
        points = self.points_model(identity[None], expression[None])[0] @ rotation.T + trans
        normals = self.normals @ rotation.T
        to_camera = -points / points.norm(dim=-1, keepdim=True)
        cosine = (normals * to_camera).sum(-1)
        return torch.sigmoid((cosine - 0.1) / VISIBILITY_SHARPNESS)
