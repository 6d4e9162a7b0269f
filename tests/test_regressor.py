"""The learned half: shipped ONNX vs torch, training steps, the fast path, profiles without landmarks, GCN."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, SAMPLE, shared_path

import facerecon
from facerecon.camera import PerspectiveCamera, euler_to_matrix
from facerecon.datasets import annotated_faces
from facerecon.fit.skin_mask import skin_mask
from facerecon.io.image import load_image
from facerecon.metrics import bbox_of, masked_psnr, nme
from facerecon.model.surface import surface_points
from facerecon.nets.codec import face_anchor
from facerecon.nets.gcn import TextureGCN
from facerecon.nets.pretrained import face_region, load_regressor, regressor_input
from facerecon.nets.regressor import FaceRegressor
from facerecon.nets.training import label_boxes68, label_statistics, make_batch, regressor_loss
from facerecon.parameters import Appearance, FitResult
from facerecon.pipeline import detect_faces
from facerecon.render.render import Surface, render, to_rgba8
from facerecon.scene import FaceScene
from facerecon.texture.refine import refine_albedo


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_shipped_onnx_matches_torch_model(reconstructor):
    pixels = load_image(SAMPLE).pixels
    face = detect_faces(pixels, max_faces=1)[0]
    for landmarks in (face.landmarks, None):  # both branches: with MediaPipe's points and box only
        inputs = regressor_input(pixels, landmarks, face.bbox)
        onnx = reconstructor.regressor.session.run(None, inputs.arrays())
        with torch.no_grad():
            ours = load_regressor()(*(torch.from_numpy(a) for a in inputs.arrays().values()))
        for exported, output in zip(onnx, ours, strict=True):  # the parameters and the AFLW head's points
            assert np.abs(exported - output.numpy()).max() <= 1e-4


@pytest.fixture(scope="module")
def training_samples():
    """A few real and synthetic samples made by the data tool from HELEN training photos."""
    tool = load_tool("make_regressor_data")
    items = tool.work_items(shared_path(""), "train", 0)[:3]
    backgrounds = [str(p) for p in sorted(shared_path("faces/aflw_crops").glob("*.jpg"))[:20]]
    samples = [s for i, (photo, box) in enumerate(items) for s in tool.process((i, photo, box, backgrounds, 0, False))]
    return tool.collect(samples)


def test_training_steps_reduce_regressor_loss(training_samples, model):
    data = training_samples | {"box68": label_boxes68(training_samples, model)}
    assert len(data["image"]) == 6 and data["synthetic"].sum() == 3
    anchor = face_anchor(model)
    torch.manual_seed(0)
    net = FaceRegressor()
    net.output_mean, net.output_std = label_statistics(data, anchor)
    batch = make_batch(data, np.arange(len(data["image"])), anchor, np.random.default_rng(0))
    points, anchor_t = model.embedded(model.mediapipe), torch.tensor(anchor, dtype=torch.float32)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.train()
    losses = []
    for _ in range(5):
        loss, _ = regressor_loss(net, batch, points, anchor_t)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[1] < losses[0]  # the first step already helps
    assert losses[-1] < 0.9 * losses[0]


def test_training_steps_reduce_gcn_colour_error(training_samples, model, tmp_path):
    tool = load_tool("train_gcn")
    path = tmp_path / "samples.npz"
    np.savez(path, **training_samples)
    colors, shown, shading, coarse = tool.load_vertex_data(path, model)
    faces, n = face_region(model)
    mirror = torch.from_numpy(model.mirror[:n])
    hidden = torch.from_numpy(np.stack([tool.hide_patches(model.mean[:n].numpy(), np.random.default_rng(i))
                                        for i in range(len(colors))]))  # fmt: skip
    torch.manual_seed(0)
    net = TextureGCN(faces, n)
    optimizer = torch.optim.Adam(net.parameters(), lr=5e-4)
    errors = []
    for _ in range(4):
        loss = tool.colour_error(net, colors, shown, hidden, shading, coarse, mirror).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        errors.append(loss.item())
    assert errors[-1] < errors[0]


@pytest.mark.parametrize("dataset", ["helen_test", "afw"])
def test_fast_path_landmarks_on_annotated_photos(dataset):
    errors = []
    for photo, truth in annotated_faces(shared_path(f"faces/{dataset}"), every=12):
        faces = facerecon.reconstruct(photo, bbox=bbox_of(truth), fast=True, texture_size=64)
        assert "photometric_s" not in faces[0].fit_stats["timings"]
        assert faces[0].fit_stats["method"].startswith("fast")
        errors.append(nme(faces[0].landmarks68, truth))
    assert len(errors) > 25
    assert np.mean(errors) <= 0.040, np.mean(errors)  # 0.029 / 0.033 when written


def synthetic_profile(model, yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """Our mean face at this yaw, lit, over grey: a photo and the face's box."""
    camera = PerspectiveCamera.for_image(320, 320)
    rotation = euler_to_matrix(yaw, 0, 0)
    translation = np.array([0.0, 0.0, -60.0]) - rotation @ face_anchor(model)
    fit = FitResult(rotation, translation, np.zeros(64), np.zeros(52), camera)
    vertices = torch.from_numpy(fit.to_camera(fit.model_vertices(model))).float()
    skin = torch.tensor([0.8, 0.6, 0.5]).expand(model.n_vertices, 3)
    lighting = torch.zeros(9, 3)
    lighting[0], lighting[2], lighting[3] = 2.5, 0.8, 0.6
    with torch.no_grad():
        out = render(vertices, torch.from_numpy(model.faces), camera, Surface(vertex_colors=skin), lighting)
    rgba = to_rgba8(out).astype(np.float64)
    photo = rgba[..., :3] * rgba[..., 3:] / 255 + 110 * (1 - rgba[..., 3:] / 255)
    ys, xs = np.nonzero(rgba[..., 3] > 127)
    return photo.astype(np.uint8), np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=float)


def test_regressor_alone_reconstructs_a_profile_mediapipe_cannot_read(model):
    photo, box = synthetic_profile(model, 80.0)
    assert all(f.landmarks is None for f in detect_faces(photo, bbox=box, keep_boxes=True))
    faces = facerecon.reconstruct(photo, bbox=box, texture_size=64)
    assert len(faces) == 1 and faces[0].landmarks478 is None
    assert "regressor alone" in faces[0].fit_stats["method"]
    assert 55 < faces[0].pose["yaw"] < 100, faces[0].pose["yaw"]  # a profile, turned the right way


def test_gcn_albedo_renders_closer_to_the_photo_than_the_coarse_albedo(reconstructor):
    model = reconstructor.model
    photo, truth = next(iter(annotated_faces(shared_path("faces/helen_test"), every=50)))
    pixels = load_image(photo).pixels
    face = detect_faces(pixels, bbox=bbox_of(truth))[0]
    camera = PerspectiveCamera.for_image(pixels.shape[1], pixels.shape[0])
    reading = reconstructor.regressor(pixels, camera, landmarks=face.landmarks, box=face.bbox)
    guess, appearance = reading.fit, reading.appearance
    fit = reconstructor.landmark_fitter.fit(face.landmarks, camera, start=guess)
    fit, coarse = reconstructor.photometric_fitter.fit(pixels, face.landmarks, fit, appearance)
    scene = FaceScene.build(fit, model)
    refined = Appearance(coarse.lighting, refine_albedo(reconstructor.gcn, pixels, scene, coarse))
    vertices = fit.model_vertices(model)
    lm68 = fit.to_screen(surface_points(vertices, model.faces, model.landmarks68.tri, model.landmarks68.bary))
    mask = skin_mask(lm68[:, :2], *pixels.shape[:2])
    scores = []
    for albedo in (coarse, refined):
        rgba = scene.render_in_photo(albedo)
        scores.append(masked_psnr(rgba[..., :3], pixels, mask & (rgba[..., 3] > 127)))
    assert scores[1] > scores[0] + 1.0, scores
