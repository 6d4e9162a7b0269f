"""Large poses: contour points slide to the silhouette; the regressor learns from labelled AFLW crops."""

from __future__ import annotations

import argparse
import importlib.util

import numpy as np
import pytest
import torch
from conftest import ROOT, SHARED, shared_path

from facerecon.camera import PerspectiveCamera, euler_to_matrix, matrix_to_euler
from facerecon.fit.contour import IBUG_JAW
from facerecon.fit.landmark_fit import LandmarkFitter
from facerecon.model.surface import surface_points
from facerecon.parameters import FitResult, SeenPoints

LEFT_JAW = [k for k in IBUG_JAW if k > 8]  # the subject's left (+X): image right on a frontal face
RIGHT_JAW = [k for k in IBUG_JAW if k < 8]


def posed(model, yaw: float) -> tuple[FitResult, np.ndarray]:
    camera = PerspectiveCamera.for_image(512, 512)
    fit = FitResult(euler_to_matrix(yaw, 0, 0), np.array([0.0, 0.0, -60.0]), np.zeros(model.n_identity),
                    np.zeros(model.n_expression), camera)  # fmt: skip
    return fit, model.mean.numpy().astype(np.float64)


def test_jaw_points_slide_to_the_silhouette_when_the_head_turns(model):
    fitter = LandmarkFitter(model)
    fit, vertices = posed(model, 0.0)
    fixed = fit.to_screen(surface_points(vertices, model.faces, model.landmarks68.tri, model.landmarks68.bary))
    assert np.allclose(fitter.landmarks68(fit, vertices), fixed)  # frontal: the calibrated points stay

    fit, vertices = posed(model, 50.0)  # the nose turns to image right: the subject's left side turns away
    fixed = fit.to_screen(surface_points(vertices, model.faces, model.landmarks68.tri, model.landmarks68.bary))
    sliding = fitter.landmarks68(fit, vertices)
    assert np.allclose(sliding[RIGHT_JAW], fixed[RIGHT_JAW])  # the near side keeps its points
    moved = np.linalg.norm(sliding[LEFT_JAW, :2] - fixed[LEFT_JAW, :2], axis=1)
    assert moved.max() > 5.0  # pixels: the far side's points left their skin points ...
    # ... which, turned away, project inside the face's outline: the outline lies further out, to the right.
    slid = moved > 0
    assert slid.sum() >= 4 and (sliding[LEFT_JAW, 0][slid] > fixed[LEFT_JAW, 0][slid]).all()


def test_the_68_calibration_finds_points_from_their_projections(model):
    """tools/calibrate_landmarks68.py's search, started 0.8 cm behind the brows' and eyes' points, lands on
    them from their projections in frontal and turned views."""
    tool = load_tool("calibrate_landmarks68")
    points = np.arange(17, 48)  # brows, nose, eyes
    mean = model.mean.numpy().astype(np.float64)
    truth = surface_points(mean, model.faces, model.landmarks68.tri[points], model.landmarks68.bary[points])
    region = np.unique(model.faces[: tool.FACE_TRIS])
    fits = [posed(model, yaw)[0] for yaw in (-40.0, -20.0, 0.0, 20.0, 40.0)]
    pixels = np.stack([fit.to_screen(mean[region])[:, :2] for fit in fits])
    labels = np.stack([fit.to_screen(truth)[:, :2] for fit in fits])
    start = truth + np.array([0.0, 0.0, -0.8])
    tri, bary = tool.refine_by_reprojection(start, labels, pixels, model, tool.FACE_TRIS)
    assert np.linalg.norm(surface_points(mean, model.faces, tri, bary) - truth, axis=1).max() < 0.1  # cm


def test_the_oval_correspondences_follow_the_pose(model):
    from facerecon.fit.landmark_fit import FaceParameters

    fitter = LandmarkFitter(model)
    camera = PerspectiveCamera.for_image(512, 512)
    rows = {}
    for yaw in (0.0, 60.0):
        params = FaceParameters.start(euler_to_matrix(yaw, 0, 0), np.array([0.0, 0.0, -60.0]),
                                      np.zeros(model.n_identity), np.zeros(model.n_expression))  # fmt: skip
        with torch.no_grad():
            rows[yaw] = fitter.correspondence(params, camera, params.camera_points(fitter.points_model)).numpy()
    frontal_moved = (rows[0.0] != np.arange(len(rows[0.0]))).sum()
    turned_moved = (rows[60.0] != np.arange(len(rows[60.0]))).sum()
    assert frontal_moved <= 2 and turned_moved >= 8


def load_tool(name: str = "finetune_regressor_aflw"):
    spec = importlib.util.spec_from_file_location(name, ROOT / f"tools/{name}.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


@pytest.fixture(scope="module")
def labelled_crops(tmp_path_factory) -> dict:
    """12 AFLW train crops as the fine-tuning tool prepares them (MediaPipe's points, labels, teacher)."""
    shared_path("faces/aflw_crops/labels.csv")
    work = tmp_path_factory.mktemp("aflw")
    load_tool().prepare(argparse.Namespace(work=work, shared=SHARED, limit=12))
    with np.load(work / "aflw_train.npz") as npz:
        return {k: npz[k] for k in npz.files}


def test_training_steps_on_labelled_crops_reduce_the_landmark_loss(labelled_crops, model):
    from facerecon.nets.codec import face_anchor
    from facerecon.nets.pretrained import load_regressor

    tool, data = load_tool(), labelled_crops
    net = load_regressor()  # a fresh copy of the shipped net
    indices = np.arange(12)
    anchor = torch.tensor(face_anchor(model), dtype=torch.float32)
    batch, labels = tool.make_batch(data, indices, None)

    def nme() -> float:
        with torch.no_grad():
            return tool.loss_of(net, batch, labels, model, anchor, tool.aflw21_matrix())[1]["nme"]

    before = nme()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    net.train()
    for _ in range(4):
        loss, _ = tool.loss_of(net, batch, labels, model, anchor, tool.aflw21_matrix())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net.eval()
    assert nme() < before
    assert data["points"].shape == (12, 21, 2) and 0 < data["has_landmarks"].sum() <= 12


def test_training_steps_reduce_the_aflw21_heads_loss(labelled_crops):
    from facerecon.nets.pretrained import load_regressor
    from facerecon.nets.regressor import FaceRegressor

    tool = load_tool("train_aflw21_head")
    seen = tool.features(load_regressor(), labelled_crops, np.arange(12), None, None)
    torch.manual_seed(0)
    head = FaceRegressor().aflw21_head
    inputs = (seen["features"] - seen["features"].mean(0)) / (seen["features"].std(0) + 1e-3)
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-3)
    losses = []
    for _ in range(5):
        loss, _ = tool.loss_of(head, inputs, seen["points"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]
    assert seen["points"].shape == (12, 21, 2) and torch.isnan(seen["points"]).any()  # profiles hide points


def test_the_profile_refit_recovers_pitch_roll_and_position_from_21_points(model):
    from facerecon.fit.profile_pose import ProfilePoseFitter

    fitter = ProfilePoseFitter(model)
    truth, _ = posed(model, 60.0)
    observed = truth.to_screen(truth.model_vertices(fitter.points))[:, :2]
    start = FitResult(euler_to_matrix(60.0, 12.0, -8.0), truth.translation + np.array([1.5, -1.0, 3.0]), truth.identity,
                      truth.expression, truth.camera)  # fmt: skip
    refitted = fitter.fit(start, SeenPoints(observed, np.ones(21, dtype=bool)))
    before = np.abs(start.to_screen(start.model_vertices(fitter.points))[:, :2] - observed).mean()
    after = np.abs(refitted.to_screen(refitted.model_vertices(fitter.points))[:, :2] - observed).mean()
    assert after < 0.2 * before
    assert np.allclose(matrix_to_euler(refitted.rotation), (60.0, 0.0, 0.0), atol=3.0)
    assert fitter.fit(start, SeenPoints(observed, np.arange(21) < 3)) is start  # too few points seen: the pose stays


def test_the_aflw21_head_and_the_refit_beat_the_regressors_points_on_turned_heads(reconstructor):
    """On turned train crops that no training used (every 20th)."""
    import csv

    from facerecon.datasets import aflw_points
    from facerecon.io.image import load_image
    from facerecon.metrics import visible_nme

    labels = shared_path("faces/aflw_crops/labels.csv")
    held_out = [r for r in csv.DictReader(labels.open()) if r["split"] == "train"][::20]
    turned = [r for r in held_out if abs(float(r["yaw"])) >= 60][:20]
    camera = PerspectiveCamera.for_image(120, 120)
    errors = []
    for row in turned:
        truth, pixels = aflw_points(row), load_image(labels.parent / row["name"]).pixels
        face = reconstructor.detector.detect(pixels, bbox=[0, 0, 120, 120], keep_boxes=True)[0]
        reading = reconstructor.regressor(pixels, camera, landmarks=face.landmarks, box=face.bbox)
        refitted = reconstructor.profile_fitter.fit(reading.fit, reading.aflw21)
        points = [fit.to_screen(fit.model_vertices(reconstructor.profile_fitter.points))[:, :2]
                  for fit in (reading.fit, refitted)]  # fmt: skip
        errors.append([visible_nme(p, truth) for p in (*points, reading.aflw21.pixels)])
    regressor, refit, head = np.mean(errors, axis=0)
    assert len(turned) == 20 and head < regressor - 0.005 and refit < regressor - 0.003


@pytest.mark.parametrize("yaw", [-70.0, 70.0])
def test_the_21_point_mapping_keeps_the_sides(yaw, model):
    from facerecon.metrics import to_aflw21

    fit, vertices = posed(model, yaw)
    points = to_aflw21(LandmarkFitter(model).landmarks68(fit, vertices)[:, :2])
    assert points[0, 0] < points[5, 0] and points[17, 0] < points[19, 0]  # image-left brow and mouth corner


def test_calibrated_aflw21_points_beat_the_68_mapping_on_turned_heads(model):
    """On turned train crops that neither the fine-tuning nor the calibration used (every 20th)."""
    import csv

    from facerecon.datasets import aflw_points
    from facerecon.metrics import calibrated_aflw21, to_aflw21, visible_nme
    from facerecon.pipeline import reconstruct

    labels = shared_path("faces/aflw_crops/labels.csv")
    held_out = [r for r in csv.DictReader(labels.open()) if r["split"] == "train"][::20]
    turned = [r for r in held_out if abs(float(r["yaw"])) >= 60][:20]
    mapped, calibrated = [], []
    for row in turned:
        truth = aflw_points(row)
        face = reconstruct(labels.parent / row["name"], bbox=[0, 0, 120, 120], photometric=False, texture_size=64)[0]
        mapped.append(visible_nme(to_aflw21(face.landmarks68[:, :2]), truth))
        calibrated.append(visible_nme(calibrated_aflw21(face, model), truth))
    assert len(turned) == 20 and np.mean(calibrated) < np.mean(mapped) - 0.003
