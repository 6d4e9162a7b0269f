import json

import numpy as np
import pytest
import torch
from conftest import ROOT, shared_path

from facerecon.fit.contour import MEDIAPIPE_OVAL
from facerecon.model.arkit import ARKIT_NAMES
from facerecon.model.face_model import DEFAULT_ASSET, load_face_model
from facerecon.model.surface import surface_points, vertex_normals


def test_asset_contents(model):
    assert DEFAULT_ASSET.stat().st_size <= 21e6  # the skin ~15 MB, the eyes and mouth ~5 MB
    assert model.n_vertices == 11248 and model.faces.max() == model.n_vertices - 1
    assert model.n_identity >= 60
    assert model.expression_names == list(ARKIT_NAMES) and len(ARKIT_NAMES) == 52
    assert model.uv.min() >= 0 and model.uv.max() <= 1
    assert len(model.landmarks68.tri) == 68 and len(model.mediapipe.tri) == 468
    assert np.allclose(model.landmarks68.bary.sum(1), 1) and np.allclose(model.mediapipe.bary.sum(1), 1)
    assert len(model.aflw21.tri) == 21 and np.allclose(model.aflw21.bary.sum(1), 1)
    calibrated = model.mediapipe_calibrated
    assert len(calibrated.tri) == 468 and np.allclose(calibrated.bary.sum(1), 1)
    assert (calibrated.tri < model.n_face_triangles).all()  # on the face, where FaceMesh reads


def test_calibrated_mediapipe_points_stay_near_their_registered_places(model):
    mean = model.mean.numpy().astype(np.float64)
    registered = surface_points(mean, model.faces, model.mediapipe.tri, model.mediapipe.bary)
    calibrated = model.mediapipe_calibrated
    moved = np.linalg.norm(surface_points(mean, model.faces, calibrated.tri, calibrated.bary) - registered, axis=1)
    assert moved.max() < 1.0  # cm: FaceMesh's points are offset by millimetres, not moved elsewhere
    assert np.allclose(moved[list(MEDIAPIPE_OVAL)], 0.0, atol=1e-5)  # the oval slides in the fit instead
    assert np.median(moved) > 0.05  # the calibration is in the asset


def test_calibrated_aflw21_points_keep_their_layout(model):
    """AFLW's order: brows, eyes, ears, nose, mouth, chin; "image-left" is the subject's right (-X)."""
    mean = model.mean.numpy().astype(np.float64)
    p = surface_points(mean, model.faces, model.aflw21.tri, model.aflw21.bary)
    image_left, image_right = [0, 1, 2, 6, 7, 8, 12, 13, 17], [5, 4, 3, 11, 10, 9, 16, 15, 19]
    assert (p[image_left, 0] < 0).all() and (p[image_right, 0] > 0).all()
    assert np.abs(p[image_left] * [-1, 1, 1] - p[image_right]).max() < 1.0  # cm: mirror pairs
    assert p[1, 1] > p[7, 1] > p[14, 1] > p[18, 1] > p[20, 1]  # brow > eye > nose tip > mouth > chin
    assert p[12, 2] < p[6, 2] - 2.0 and p[14, 2] > p[7, 2]  # the ears lie well behind the eyes, the tip ahead


def test_forward_is_batched_and_linear(model):
    identity = torch.randn(3, model.n_identity)
    expression = torch.rand(3, model.n_expression)
    out = model(identity, expression)
    assert out.shape == (3, model.n_vertices, 3)
    assert torch.allclose(model(torch.zeros(1, model.n_identity), torch.zeros(1, model.n_expression))[0], model.mean)
    twice = model(2 * identity, 2 * expression) - model.mean
    assert torch.allclose(twice, 2 * (out - model.mean), atol=1e-3)


def test_units_axes_and_outward_normals(model):
    mean = model.mean.numpy().astype(np.float64)
    size = mean.max(0) - mean.min(0)
    assert 20 < size[0] < 30 and 25 < size[1] < 40  # a head in centimetres
    lm = surface_points(mean, model.faces, model.landmarks68.tri, model.landmarks68.bary)
    assert lm[45, 0] > 0 > lm[36, 0]  # +X is the subject's left: left eye corner (45) at +X
    assert lm[19, 1] > lm[30, 1] > lm[8, 1]  # +Y up: brow above nose tip above chin
    normals = vertex_normals(mean, model.faces)
    nose = model.faces[model.landmarks68.tri[30], 0]
    assert normals[nose, 2] > 0.7  # +Z out of the face, triangles face outwards


def test_arkit_sides_follow_the_subject(model):
    basis = model.expression_basis.numpy()
    mean = model.mean.numpy()
    for name in ("eyeBlinkLeft", "mouthSmileLeft", "browOuterUpLeft"):
        moved = np.linalg.norm(basis[model.expression_names.index(name)], axis=1) > 0.05
        assert mean[moved, 0].mean() > 1.0, name
    assert not basis[model.expression_names.index("tongueOut")].any()


def test_identity_modes_have_unit_variance():
    ict = np.load(shared_path("facekit/ict_facekit_light.npz"))
    model = load_face_model()
    deltas = ict["identity"][:, : model.n_vertices].reshape(100, -1).astype(np.float64)
    basis = model.identity_basis.numpy().reshape(model.n_identity, -1).astype(np.float64)
    # ICT's 100 modes are unit-variance directions; expressed in our basis, their coefficients have
    # variance 1 per mode (summed over the 100 samples, since each ICT weight has variance 1).
    coeffs = deltas @ np.linalg.pinv(basis)
    assert np.allclose((coeffs**2).sum(0), 1.0, atol=1e-3)


def test_rebuilt_asset_equals_shipped(tmp_path):
    import subprocess
    import sys

    facekit = shared_path("facekit")
    out = tmp_path / "face_model.npz"
    subprocess.run(
        [sys.executable, str(ROOT / "tools/build_face_model.py"), "--shared", str(facekit.parent), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    with np.load(out) as npz:
        rebuilt = {k: npz[k] for k in npz.files}
    with np.load(DEFAULT_ASSET) as npz:
        shipped = {k: npz[k] for k in npz.files}
    assert sorted(rebuilt) == sorted(shipped)
    # Embedded points: a float tie may pick the neighbouring triangle of a shared edge on another machine,
    # so their positions on the mean face are compared (within 0.01 mm), not their triangle ids.
    mean = shipped["mean"].astype(np.float64)

    def positions(arrays: dict, name: str) -> np.ndarray:
        return surface_points(mean, arrays["faces"], arrays[f"{name}_tri"], arrays[f"{name}_bary"])

    for name in ("lm68", "mp"):
        assert np.abs(positions(rebuilt, name) - positions(shipped, name)).max() < 1e-3, name
    for key in sorted(set(shipped) - {"lm68_tri", "lm68_bary", "mp_tri", "mp_bary"}):
        a, b = rebuilt[key], shipped[key]
        assert a.shape == b.shape, key
        if key == "albedo_basis":  # eigenvectors of near-equal eigenvalues: compare the spanned space
            a, b = a.astype(np.float64), b.astype(np.float64)
            overlap = np.linalg.svd(a @ b.T / a.shape[1], compute_uv=False)
            assert overlap.min() > 0.99, overlap.min()
        elif a.dtype.kind == "f":
            assert np.allclose(a, b, atol=1e-5), key
        else:
            assert (a == b).all(), key


def test_calibrated_landmarks_are_the_shipped_ones(model):
    calib = json.loads((ROOT / "tools/landmarks68_calibrated.json").read_text())
    assert (np.array(calib["tri"]) == model.landmarks68.tri).all()


def test_mediapipe_embedding_matches_canonical_mesh(model):
    obj = shared_path("facekit/mediapipe_canonical_face_model.obj")
    canonical = np.array([line.split()[1:4] for line in obj.read_text().splitlines() if line.startswith("v ")], float)
    embedded = surface_points(
        model.mean.numpy().astype(np.float64), model.faces, model.mediapipe.tri, model.mediapipe.bary
    )
    # Same axes and units: after removing the offset between origins, points agree within ~1 cm.
    offset = (embedded - canonical).mean(0)
    err = np.linalg.norm(embedded - canonical - offset, axis=1)
    assert np.median(err) < 0.5 and err.max() < 2.0


@pytest.mark.parametrize("damage", ["missing", "garbage", "truncated"])
def test_bad_asset_is_a_clear_error(tmp_path, damage):
    from facerecon.errors import ModelAssetError

    path = tmp_path / "face_model.npz"
    if damage == "garbage":
        path.write_bytes(b"not a zip file at all")
    elif damage == "truncated":
        path.write_bytes(DEFAULT_ASSET.read_bytes()[:50000])
    with pytest.raises(ModelAssetError):
        load_face_model(path)


def test_eyes_and_teeth_follow_identity_and_jaw(model):
    """The parts move with the skin's coefficients: the eyeballs stay in their sockets whatever the identity,
    and jawOpen takes the lower teeth down with the chin."""
    parts = model.parts
    assert parts.names == ["eye_left", "eye_right", "mouth_socket", "gums_tongue", "teeth"]
    rng = np.random.default_rng(0)
    centres, offsets = [], []
    for _ in range(10):
        identity = torch.from_numpy(rng.standard_normal((1, model.n_identity)).astype(np.float32) * 1.5)
        skin = model(identity, torch.zeros(1, model.n_expression))[0].numpy()
        eyes = parts(identity, torch.zeros(1, model.n_expression))[0].numpy()
        corners = surface_points(skin, model.faces, model.landmarks68.tri, model.landmarks68.bary)[[42, 45]]
        centres.append(eyes[parts.vertices_of("eye_left")].mean(axis=0))
        offsets.append(centres[-1] - corners.mean(axis=0))
    # Identities move the eye by ~2.5 mm; across the face it moves with its corners to within ~1 mm (its
    # depth behind them varies more: deep-set and prominent eyes).
    assert (np.std(centres, axis=0)[:2] > 2 * np.std(offsets, axis=0)[:2]).all()
    assert np.std(offsets, axis=0)[2] < 0.25
    assert abs(np.mean(offsets, axis=0)[0]) < 0.2  # centred between the corners (cm)

    jaw = torch.zeros(1, model.n_expression)
    jaw[0, model.expression_names.index("jawOpen")] = 1.0
    zero = torch.zeros(1, model.n_identity)
    rest, opened = (parts(zero, e)[0].numpy() for e in (torch.zeros_like(jaw), jaw))
    teeth = parts.vertices_of("teeth")
    drop = rest[teeth, 1] - opened[teeth, 1]
    chin = model.landmarks68_model(zero, torch.zeros_like(jaw))[0, 8, 1] - model.landmarks68_model(zero, jaw)[0, 8, 1]
    assert drop.max() > 0.5 * float(chin) > 0.5  # the lower teeth drop with the chin
    assert np.percentile(drop, 25) < 0.05  # the upper teeth stay
