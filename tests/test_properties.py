"""Property-based tests (hypothesis) of parsers and writers, and numerical safety of the fit."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest
import torch
import trimesh
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from PIL import Image

from facerecon.camera import PerspectiveCamera
from facerecon.errors import FaceReconError, UnreadableImageError
from facerecon.export.glb import export_glb
from facerecon.export.json_export import export_json, reconstruction_from_dict
from facerecon.export.obj import export_obj
from facerecon.fit.gauss_newton import IDENTITY_LIMIT
from facerecon.fit.landmark_fit import LandmarkFitter
from facerecon.io.image import load_image, to_rgb8_array
from facerecon.io.pts import read_pts, write_pts
from facerecon.reconstruction import Reconstruction

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

finite = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False, width=32)


@FAST
@given(arrays(st.sampled_from([np.uint8, np.uint16, np.int32, np.float32, np.float64, np.bool_]),
              array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=12)))  # fmt: skip
def test_any_array_becomes_rgb8_or_a_clear_error(array):
    try:
        out = to_rgb8_array(array)
    except UnreadableImageError:
        assert array.ndim == 3 and array.shape[2] not in (1, 3, 4)
        return
    assert out.dtype == np.uint8 and out.shape == (*array.shape[:2], 3)


@FAST
@given(arrays(np.uint8, st.tuples(st.integers(32, 48), st.integers(32, 48), st.just(3))),
       st.sampled_from(["PNG", "BMP", "TIFF", "WEBP"]))  # fmt: skip
def test_lossless_files_load_exactly(tmp_path_factory, pixels, fmt):
    path = tmp_path_factory.mktemp("img") / f"x.{fmt.lower()}"
    Image.fromarray(pixels).save(path, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    assert (load_image(path).pixels == pixels).all()


@FAST
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_crash_the_loader(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("bytes") / "blob.jpg"
    path.write_bytes(data)
    with pytest.raises(FaceReconError):
        load_image(path)  # random bytes are never a 32x32+ image


@FAST
@given(arrays(np.float64, st.tuples(st.integers(1, 80), st.just(2)), elements=st.floats(-1e5, 1e5)))
def test_pts_round_trip(tmp_path_factory, points):
    path = tmp_path_factory.mktemp("pts") / "p.pts"
    write_pts(path, points)
    assert np.allclose(read_pts(path), points, atol=1e-3)


def small_reconstruction(vertices: np.ndarray, basis: np.ndarray) -> Reconstruction:
    """A tetrahedron-like mesh over the given vertices, with a 2-shape expression basis."""
    faces = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 1], [1, 3, 2]])
    return Reconstruction(
        vertices=vertices.astype(np.float32), faces=faces, uv=np.array([[0, 0], [1, 0], [0, 1], [1, 1.0]]),
        face_uv=faces.copy(), texture=np.full((4, 4, 3), 200, np.uint8), landmarks68=np.zeros((68, 2)),
        landmarks478=np.zeros((478, 3)), pose={"yaw": 0, "pitch": 0, "roll": 0, "rotation": np.eye(3),
                                                "translation": np.array([0, 0, -50.0])},
        identity=np.zeros(3), expression={"a": 0.25, "b": 0.5}, camera={"focal": 100.0, "cx": 10.0, "cy": 10.0,
                                                                         "width": 20, "height": 20},
        bbox=np.zeros(4), expression_basis=basis.astype(np.float32),
    )  # fmt: skip


vertices4 = arrays(np.float64, (4, 3), elements=st.floats(-50, 50))


@FAST
@given(vertices4)
def test_obj_round_trip(vertices):
    recon = small_reconstruction(vertices, np.zeros((2, 4, 3)))
    mesh = trimesh.load(io.BytesIO(export_obj(recon, "x.mtl")), file_type="obj", process=False,
                        maintain_order=True)  # fmt: skip
    assert np.allclose(mesh.vertices, recon.vertices, atol=1e-4)
    assert (np.asarray(mesh.faces) == recon.faces).all()


@FAST
@given(vertices4, arrays(np.float64, (2, 4, 3), elements=st.floats(-5, 5)))
def test_glb_round_trip(vertices, basis):
    recon = small_reconstruction(vertices, basis)
    data = export_glb(recon)
    assert struct.unpack_from("<4sII", data) == (b"glTF", 2, len(data))
    scene = trimesh.load(io.BytesIO(data), file_type="glb", process=False)
    mesh = next(iter(scene.geometry.values()))
    neutral = recon.vertices - 0.25 * basis[0] - 0.5 * basis[1]
    assert len(mesh.vertices) == 4
    assert np.allclose(np.asarray(mesh.vertices), neutral / 100, atol=1e-5)  # metres, no pose in geometry
    json_length = struct.unpack_from("<I", data, 12)[0]
    document = json.loads(data[20 : 20 + json_length])
    assert document["meshes"][0]["extras"]["targetNames"] == ["a", "b"]
    assert document["meshes"][0]["weights"] == [0.25, 0.5]


@settings(max_examples=15, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=4, max_size=4), st.lists(st.floats(0, 1), min_size=3, max_size=3))
def test_json_record_reads_back(model, identity_head, expression_head):
    identity = np.zeros(model.n_identity)
    identity[:4] = identity_head
    weights = np.zeros(model.n_expression)
    weights[:3] = expression_head
    with torch.no_grad():
        vertices = model(torch.tensor(identity, dtype=torch.float32)[None],
                         torch.tensor(weights, dtype=torch.float32)[None])[0].numpy()  # fmt: skip
    recon = small_reconstruction(np.zeros((4, 3)), np.zeros((2, 4, 3)))
    recon.identity, recon.vertices = identity, vertices
    recon.expression = dict(zip(model.expression_names, weights, strict=True))
    recon.faces, recon.uv, recon.face_uv = model.faces, model.uv, model.face_uv
    back = reconstruction_from_dict(json.loads(export_json(recon)), model)
    assert np.allclose(back.vertices, vertices, atol=1e-3)
    assert back.expression == pytest.approx(recon.expression, abs=1e-5)
    assert np.allclose(back.pose["rotation"], np.eye(3))


def test_json_record_rejects_foreign_data(model):
    for record in ({}, {"identity": [1, 2], "expression": {}, "pose": {}}, {"identity": "x"}):
        with pytest.raises(ValueError):
            reconstruction_from_dict(record, model)


@pytest.mark.parametrize(
    "landmarks",
    [
        np.zeros((478, 3)),  # every point on one pixel
        np.tile(np.linspace(0, 100, 478)[:, None], (1, 3)),  # all on a line
        np.random.default_rng(0).normal(0, 1e9, (478, 3)),  # absurdly far apart
    ],
    ids=["collapsed", "collinear", "huge"],
)
def test_fit_stays_finite_and_in_range(model, landmarks):
    fit = LandmarkFitter(model).fit(landmarks, PerspectiveCamera.for_image(640, 480))
    for value in (fit.rotation, fit.translation, fit.identity, fit.expression):
        assert np.isfinite(value).all()
    assert np.abs(fit.identity).max() <= IDENTITY_LIMIT
    assert fit.expression.min() >= 0 and fit.expression.max() <= 1
    assert np.allclose(fit.rotation @ fit.rotation.T, np.eye(3), atol=1e-4)


def test_non_finite_landmarks_are_refused(model):
    from facerecon.errors import NoFaceError

    landmarks = np.full((478, 3), np.nan)
    with pytest.raises(NoFaceError):
        LandmarkFitter(model).fit(landmarks, PerspectiveCamera.for_image(640, 480))


def test_json_export_has_no_nan():
    recon = small_reconstruction(np.zeros((4, 3)), np.zeros((2, 4, 3)))
    recon.fit_stats = {"landmark_rmse_px": float("nan"), "nested": {"t": float("inf"), "ok": 1.5}}
    record = json.loads(export_json(recon))
    assert record["fit"] == {"landmark_rmse_px": None, "nested": {"t": None, "ok": 1.5}}
