"""Fit pose, identity and expression of the face model to MediaPipe's 2D landmarks (PyTorch autograd).

Start: the regressor's guess, whose rotation a prior then holds more firmly the more the head is turned
(MediaPipe's points lean frontal there); without one, PnP of the mean face's embedded MediaPipe points
(OpenCV). Then damped Gauss-Newton (fit.gauss_newton) on: reprojection error of the visible landmarks +
a standard normal prior on identity + a [0, 1] box and an L1 sparsity prior on expressions. MediaPipe's
face oval follows the outline of the face, so its points slide to the model's silhouette at each pose
(fit.contour); other self-occluded points, judged from the model's normals, are weighted down. The same
solver fits one identity to several video frames and follows a face from frame to frame.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from facerecon.camera import PerspectiveCamera, axis_angle_to_matrix, matrix_to_euler
from facerecon.errors import NoFaceError
from facerecon.fit.contour import IBUG_JAW, MEDIAPIPE_OVAL, Contour
from facerecon.fit.gauss_newton import EXPRESSION_L1, IDENTITY_LIMIT, IDENTITY_PRIOR, GaussNewton, View
from facerecon.model.face_model import FaceModel, LinearShapeModel
from facerecon.model.surface import surface_points, vertex_normals
from facerecon.parameters import FitResult

N_MESH_LANDMARKS = 468  # MediaPipe points 468-477 are irises, which are not on the skin
EXPRESSION_BOX = 1.0
VISIBILITY_SHARPNESS = 0.08  # cosine width of the soft visible/occluded switch
ROTATION_PRIOR = 0.1  # towards the regressor's rotation, per rad² x sin²(yaw); tuned on synthetic profiles
FIT_STEPS = 4  # Gauss-Newton steps of a photo's fit
TRACK_STEPS = 2  # from the last video frame (4 gave the same figures in benchmarks/video.py)


@dataclass
class FaceParameters:
    """The optimised tensors of one face; rotation = exp(delta_rotation) @ base_rotation."""

    base_rotation: torch.Tensor  # (3, 3), fixed
    delta_rotation: torch.Tensor  # (3,) axis-angle
    translation: torch.Tensor  # (3,) cm
    identity: torch.Tensor  # (K,)
    expression: torch.Tensor  # (E,)

    @classmethod
    def start(cls, rotation: np.ndarray, translation: np.ndarray, identity: np.ndarray, expression: np.ndarray):
        def leaf(x: np.ndarray) -> torch.Tensor:
            return torch.tensor(np.asarray(x), dtype=torch.float32, requires_grad=True)

        base = torch.tensor(np.asarray(rotation), dtype=torch.float32)
        return cls(base, leaf(np.zeros(3)), leaf(translation), leaf(identity), leaf(expression))

    def rotation(self) -> torch.Tensor:
        return axis_angle_to_matrix(self.delta_rotation) @ self.base_rotation

    def camera_points(self, shape: LinearShapeModel) -> torch.Tensor:
        """The shape model's points (N, 3) with this identity, expression and pose, in camera space (cm)."""
        points = shape(self.identity[None], self.expression[None])[0]
        return points @ self.rotation().T + self.translation

    def tensors(self) -> list[torch.Tensor]:
        return [self.delta_rotation, self.translation, self.identity, self.expression]

    def prior(self) -> torch.Tensor:
        """Standard normal on identity, L1 sparsity and a soft [0, 1] box on expressions."""
        box = torch.relu(-self.expression) + torch.relu(self.expression - 1)
        return (
            IDENTITY_PRIOR * self.identity.pow(2).sum()
            + EXPRESSION_L1 * self.expression.abs().sum()
            + EXPRESSION_BOX * box.pow(2).sum()
        )

    def snapshot(self) -> list[torch.Tensor]:
        return [t.detach().clone() for t in self.tensors()]

    def restore(self, state: list[torch.Tensor]) -> None:
        with torch.no_grad():
            for tensor, saved in zip(self.tensors(), state, strict=True):
                tensor.copy_(saved)

    def is_finite(self) -> bool:
        return all(bool(torch.isfinite(t).all()) for t in self.tensors())

    def clamp_to_model_range(self) -> None:
        with torch.no_grad():
            self.expression.clamp_(0.0, 1.0)
            self.identity.clamp_(-IDENTITY_LIMIT, IDENTITY_LIMIT)

    def result(self, camera: PerspectiveCamera, stats: dict) -> FitResult:
        def arr(t: torch.Tensor) -> np.ndarray:
            return t.detach().numpy().astype(np.float64)

        return FitResult(
            arr(self.rotation()), arr(self.translation), arr(self.identity), arr(self.expression), camera, stats
        )


class LandmarkFitter:
    """Holds what is precomputed per model: the embedded landmark model, its rest normals and contours.

    points_model holds MediaPipe's 468 points, where FaceMesh puts them on faces of known shape
    (model.mediapipe_calibrated), followed by the candidate surface points their face oval slides over;
    `correspondence` picks, per MediaPipe point, its row in it at the current pose.
    """

    def __init__(self, model: FaceModel):
        self.model = model
        points = model.mediapipe_calibrated
        self.contour = Contour.build(model, points, MEDIAPIPE_OVAL)
        self.jaw = Contour.build(model, model.landmarks68, IBUG_JAW)
        embedded = model.embedded(points)
        candidates = model.embedded(self.contour.candidates)
        self.points_model = LinearShapeModel(
            *(torch.cat([getattr(embedded, k), getattr(candidates, k)], dim=-2)
              for k in ("mean", "identity_basis", "expression_basis"))
        )  # fmt: skip
        mean = model.mean.numpy().astype(np.float64)
        normals = vertex_normals(mean, model.faces)
        normals = surface_points(normals, model.faces, points.tri, points.bary)
        self.normals = torch.from_numpy(normals / np.linalg.norm(normals, axis=1, keepdims=True)).float()
        self.mean_points = embedded.mean.numpy().astype(np.float64)
        self.solver = GaussNewton(self.points_model)

    def correspondence(self, params: FaceParameters, camera: PerspectiveCamera, points: torch.Tensor) -> torch.Tensor:
        """(468,) row of points_model for each MediaPipe point at this pose, whose camera-space `points`
        (params.camera_points(points_model)) are given: the oval on the silhouette."""
        xy = camera.project(points).numpy()
        scale = camera.focal / max(-float(params.translation[2].detach()), 1e-3)
        on = self.contour.slide(xy[self.contour.points], xy[N_MESH_LANDMARKS:], params.rotation().detach().numpy(),
                                scale)  # fmt: skip
        rows = np.arange(N_MESH_LANDMARKS)
        rows[self.contour.points] = np.where(on >= 0, N_MESH_LANDMARKS + on, self.contour.points)
        return torch.from_numpy(rows)

    def landmarks68(self, fit: FitResult, vertices: np.ndarray) -> np.ndarray:
        """The 68 iBUG points of fitted `vertices` (model space) in the image, (68, 3) as FitResult.to_screen:
        the jaw line on the silhouette at the fitted pose."""
        model, jaw = self.model, self.jaw
        on_screen = fit.to_screen(surface_points(vertices, model.faces, model.landmarks68.tri, model.landmarks68.bary))
        candidates = fit.to_screen(surface_points(vertices, model.faces, jaw.candidates.tri, jaw.candidates.bary))
        scale = fit.camera.focal / max(-float(fit.translation[2]), 1e-3)
        on = jaw.slide(on_screen[jaw.points, :2], candidates[:, :2], fit.rotation, scale)
        moved = on >= 0
        on_screen[jaw.points[moved]] = candidates[on[moved]]
        return on_screen

    def fit(
        self,
        landmarks: np.ndarray,
        camera: PerspectiveCamera,
        *,
        identity: np.ndarray | None = None,
        start: FitResult | None = None,
        steps: int = FIT_STEPS,
    ) -> FitResult:
        """landmarks: (478, 2+) image pixels from MediaPipe; returns the fitted parameters. With `identity`
        given (e.g. shared by the frames of a video), only pose and expression are fitted. `start` (the
        regressor's guess) replaces the PnP pose and the mean face as the starting point."""
        began = time.perf_counter()
        if not np.isfinite(landmarks[:N_MESH_LANDMARKS, :2]).all():
            raise NoFaceError("the face's landmarks are not finite numbers")
        if start is not None:
            view, term = self.view(landmarks, camera, start)
            # MediaPipe's points lean frontal as the head turns; the regressor learned the true pose.
            view.rotation_prior = ROTATION_PRIOR * math.sin(math.radians(matrix_to_euler(start.rotation)[0])) ** 2
            view.prior_rotation = start.rotation
            first = start.identity
        else:
            n_identity, n_expression = self.points_model.n_identity, self.points_model.n_expression
            rotation, translation = self.pnp_start(np.asarray(landmarks[:N_MESH_LANDMARKS, :2]), camera)
            mean_face = FitResult(rotation, translation, np.zeros(n_identity), np.zeros(n_expression), camera, {})
            view, term = self.view(landmarks, camera, mean_face)
            first = mean_face.identity
        fixed = identity is not None
        fitted = self.solver.solve([view], identity if fixed else first, not fixed, steps)
        return self.result(view, term, fitted, {"seconds": time.perf_counter() - began})

    def track(self, landmarks: np.ndarray, previous: FitResult) -> FitResult:
        """A video frame's pose and expression from the previous frame's fit, its identity fixed."""
        view, term = self.view(landmarks, previous.camera, previous)
        self.solver.solve([view], previous.identity, False, TRACK_STEPS)
        return self.result(view, term, previous.identity, {"method": "tracked"})

    def fit_shared_identity(
        self, landmarks: list[np.ndarray], camera: PerspectiveCamera, starts: list[FitResult]
    ) -> np.ndarray:
        """One identity for several views of the same person (video keyframes): jointly with each view's
        own pose and expression, from their independent fits `starts`."""
        views = [self.view(points, camera, start)[0] for points, start in zip(landmarks, starts, strict=True)]
        return self.solver.solve(views, np.mean([s.identity for s in starts], axis=0), True, FIT_STEPS)

    def view(self, landmarks: np.ndarray, camera: PerspectiveCamera, start: FitResult) -> tuple[View, LandmarkTerm]:
        """The solver's view of one photo, at `start`'s pose and expression, and its landmark term."""
        term = LandmarkTerm(self, landmarks, camera)

        def repick(view: View, identity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            term.update(FaceParameters.start(view.rotation, view.translation, identity, view.expression))
            return term.rows.numpy(), term.weights.numpy().astype(np.float64)

        observed = term.observed.numpy().astype(np.float64)
        view = View(observed, term.scale, camera, repick, start.rotation, start.translation, start.expression)
        return view, term

    def result(self, view: View, term: LandmarkTerm, identity: np.ndarray, stats: dict) -> FitResult:
        params = FaceParameters.start(view.rotation, view.translation, identity, view.expression)
        return params.result(view.camera, term.statistics(params) | stats)

    def pnp_start(self, observed: np.ndarray, camera: PerspectiveCamera) -> tuple[np.ndarray, np.ndarray]:
        """Pose of the mean face from its 468 embedded points (EPnP, then Levenberg-Marquardt)."""
        obj = self.mean_points.astype(np.float64)
        img = observed.astype(np.float64)
        k = camera.intrinsics()
        try:
            ok, rvec, tvec = cv2.solvePnP(obj, img, k, None, flags=cv2.SOLVEPNP_EPNP)
            if ok:
                ok, rvec, tvec = cv2.solvePnP(obj, img, k, None, rvec, tvec, True, flags=cv2.SOLVEPNP_ITERATIVE)
        except cv2.error:  # degenerate point sets
            ok, rvec, tvec = False, np.zeros(3), np.zeros(3)
        # OpenCV's camera looks down +Z with +Y down; ours looks down -Z with +Y up.
        flip = np.diag([1.0, -1.0, -1.0])
        rot, trans = flip @ cv2.Rodrigues(np.asarray(rvec, dtype=np.float64))[0], flip @ np.ravel(tvec)
        if not ok or not np.isfinite(rot).all() or not np.isfinite(trans).all() or trans[2] >= -1.0:
            # Degenerate: a frontal face at a plausible distance.
            rot, trans = np.eye(3), np.array([0.0, 0.0, -camera.focal * 15.0 / max(camera.width, 1)])
        return rot, trans

    def visibility(self, params: FaceParameters, points: torch.Tensor) -> torch.Tensor:
        """Soft weight per MediaPipe point: ~1 where its surface normal faces the camera, ~0 where it faces
        away; 1 on the oval, which sits on the silhouette. `points` as for `correspondence`."""
        with torch.no_grad():
            points = points[:N_MESH_LANDMARKS]
            normals = self.normals @ params.rotation().T
            to_camera = -points / points.norm(dim=-1, keepdim=True)
            cosine = (normals * to_camera).sum(-1)
            weights = torch.sigmoid((cosine - 0.1) / VISIBILITY_SHARPNESS)
            weights[self.contour.points] = 1.0
            return weights


class LandmarkTerm:
    """Mean squared reprojection error of the visible MediaPipe surface landmarks, in units of the face
    size (so the same weight suits every photo size)."""

    def __init__(self, fitter: LandmarkFitter, landmarks: np.ndarray, camera: PerspectiveCamera):
        self.fitter, self.camera = fitter, camera
        self.observed = torch.from_numpy(np.asarray(landmarks[:N_MESH_LANDMARKS, :2], dtype=np.float32))
        extent = self.observed.max(0).values - self.observed.min(0).values
        self.scale = float(extent.prod().sqrt()) or 1.0
        self.weights = torch.ones(N_MESH_LANDMARKS)
        self.rows = torch.arange(N_MESH_LANDMARKS)

    def update(self, params: FaceParameters) -> None:
        """Visibility weights and the oval's silhouette correspondences at the current pose."""
        with torch.no_grad():
            points = params.camera_points(self.fitter.points_model)
        self.weights = self.fitter.visibility(params, points)
        self.rows = self.fitter.correspondence(params, self.camera, points)

    def projected(self, points: torch.Tensor) -> torch.Tensor:
        """Pixels of the observed points' model rows, from the camera-space `points` of points_model."""
        return self.camera.project(points)[self.rows]

    def __call__(self, params: FaceParameters) -> torch.Tensor:
        projected = self.projected(params.camera_points(self.fitter.points_model))
        residual = ((projected - self.observed) / self.scale).pow(2).sum(-1)
        return (self.weights * residual).sum() / self.weights.sum().clamp_min(1e-6)

    def statistics(self, params: FaceParameters) -> dict:
        with torch.no_grad():
            points = params.camera_points(self.fitter.points_model)
            visible = self.fitter.visibility(params, points) > 0.5
            err = (self.projected(points) - self.observed).norm(dim=-1)
            rmse = float(err[visible].pow(2).mean().sqrt()) if visible.any() else float("nan")
        return {"landmark_rmse_px": rmse, "visible_landmarks": int(visible.sum())}
