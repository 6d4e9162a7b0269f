"""The landmark fit on synthetic faces whose parameters are known: exact points give back the face, and
FaceMesh's points on a render are read where FaceMesh puts them (the calibrated embedding)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facerecon.camera import PerspectiveCamera, euler_to_matrix, matrix_to_euler
from facerecon.fit.contour import MEDIAPIPE_OVAL
from facerecon.fit.landmark_fit import N_MESH_LANDMARKS, FaceParameters, LandmarkFitter
from facerecon.metrics import scan_to_mesh
from facerecon.model.surface import surface_points
from facerecon.parameters import FitResult
from facerecon.pipeline import detect_faces
from facerecon.synthetic import neutral_shape, posed_head

CAMERA = PerspectiveCamera.for_image(512, 512)


def exact_points(fitter: LandmarkFitter, identity: np.ndarray, expression: np.ndarray, yaw: float) -> np.ndarray:
    """(478, 3) MediaPipe-like points of a face: its embedded points projected, the oval on its silhouette."""
    params = FaceParameters.start(euler_to_matrix(yaw, 5.0, 0.0), np.array([0.0, 1.0, -60.0]), identity, expression)
    with torch.no_grad():
        camera_points = params.camera_points(fitter.points_model)
    pixels = CAMERA.project(camera_points)[fitter.correspondence(params, CAMERA, camera_points)].numpy()
    points = np.zeros((478, 3))
    points[:N_MESH_LANDMARKS, :2] = pixels
    return points


@pytest.mark.parametrize("yaw", [-30.0, 40.0])  # turned: a frontal view hides the depth
def test_exact_points_give_back_the_shape_and_pose(model, yaw):
    fitter = LandmarkFitter(model)
    identity = np.clip(np.random.default_rng(int(yaw) + 100).standard_normal(model.n_identity), -2.5, 2.5)
    fit = fitter.fit(exact_points(fitter, identity, np.zeros(model.n_expression), yaw), CAMERA)
    truth = neutral_shape(model, identity)
    region = np.arange(model.n_face_vertices)
    faces = model.faces[: model.n_face_triangles]
    fitted_error = np.median(scan_to_mesh(truth, neutral_shape(model, fit.identity), faces, region))
    mean_error = np.median(scan_to_mesh(truth, neutral_shape(model, np.zeros_like(identity)), faces, region))
    assert fitted_error < 0.8 * mean_error  # the points carry the shape: the fit must take it
    assert abs(matrix_to_euler(fit.rotation)[0] - yaw) < 2.5


def test_a_frame_is_tracked_from_the_last_one(model):
    fitter = LandmarkFitter(model)
    identity = np.clip(np.random.default_rng(7).standard_normal(model.n_identity), -2.5, 2.5)
    expression = np.zeros(model.n_expression)
    expression[model.expression_names.index("jawOpen")] = 0.6
    previous = FitResult(euler_to_matrix(10.0, 5.0, 0.0), np.array([0.0, 1.0, -60.0]), identity,
                         np.zeros(model.n_expression), CAMERA)  # fmt: skip
    tracked = fitter.track(exact_points(fitter, identity, expression, 14.0), previous)
    assert tracked.expression[model.expression_names.index("jawOpen")] > 0.4
    assert abs(matrix_to_euler(tracked.rotation)[0] - 14.0) < 1.5
    np.testing.assert_allclose(tracked.identity, identity, atol=1e-6)


def test_facemesh_puts_its_points_where_the_calibration_says(model, astronaut):
    """On renders of faces of known shape (not the calibration's draws, in the sample's texture), FaceMesh's
    points lie nearer the calibrated surface points of the true head than its registered canonical mesh."""
    rng = np.random.default_rng(3)  # tools/calibrate_mediapipe.py drew seed 10
    inner = np.setdiff1d(np.arange(N_MESH_LANDMARKS), MEDIAPIPE_OVAL)  # the oval slides, it is not calibrated
    distances = {"calibrated": [], "registered": []}
    for yaw in (-40.0, -30.0, -20.0, -10.0, 0.0, 15.0, 30.0, 40.0):
        truth = neutral_shape(model, np.clip(rng.standard_normal(model.n_identity), -2.5, 2.5))
        picture, posed, camera = posed_head(model, truth, astronaut[0], yaw, 5.0)
        detected = detect_faces(picture, max_faces=1)[0].landmarks[inner, :2]
        for name, points in (("calibrated", model.mediapipe_calibrated), ("registered", model.mediapipe)):
            on_head = camera.to_screen(surface_points(posed, model.faces, points.tri[inner], points.bary[inner]))
            distances[name].append(np.median(np.linalg.norm(on_head[:, :2] - detected, axis=1)))
    calibrated, registered = np.array(distances["calibrated"]), np.array(distances["registered"])
    assert calibrated.mean() < 0.92 * registered.mean()  # 0.85 when written; 1.0 without a calibration
    assert (calibrated < registered).sum() >= 6


def test_box_qp_finds_the_bounded_optimum():
    """The active-set solver gives what BVLS gives, on problems shaped like a fit's step: pose and identity
    free, expression weights boxed, conditioning from mild to poor."""
    from facerecon.fit.gauss_newton import bounded_least_squares, box_qp

    rng = np.random.default_rng(0)
    for trial in range(200):
        n, boxed = 60, slice(6, 40)
        a = rng.standard_normal((n, n)) * np.logspace(0, rng.uniform(0, 4), n)
        hessian = a @ a.T + 1e-3 * np.eye(n)
        target = rng.standard_normal(n) * 10
        low, high = np.full(n, -np.inf), np.full(n, np.inf)
        weights = rng.uniform(0, 1, boxed.stop - boxed.start)
        low[boxed], high[boxed] = -weights, 1 - weights
        x, reference = box_qp(hessian, target, low, high), bounded_least_squares(hessian, target, low, high)
        assert (x >= low - 1e-12).all() and (x <= high + 1e-12).all()
        cost = 0.5 * x @ hessian @ x - target @ x
        best = 0.5 * reference @ hessian @ reference - target @ reference
        assert cost <= best + 1e-7 * max(1.0, abs(best)), trial  # float noise at this conditioning
