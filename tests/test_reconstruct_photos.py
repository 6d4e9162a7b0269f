"""End to end on real annotated photos: landmark accuracy and loadable, textured OBJ files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh
from conftest import SAMPLE, shared_path

import facerecon
from facerecon.datasets import annotated_faces
from facerecon.metrics import bbox_of, nme

EVERY = 6  # a fixed sixth of each set (55 HELEN, 56 AFW faces); benchmarks/landmarks.py runs all


@pytest.mark.parametrize("dataset", ["helen_test", "afw"])
def test_landmark_nme_on_annotated_photos(dataset):
    errors = []
    for photo, truth in annotated_faces(shared_path(f"faces/{dataset}"), every=EVERY):
        faces = facerecon.reconstruct(photo, bbox=bbox_of(truth), texture_size=64)
        assert len(faces) == 1
        assert faces[0].landmarks68.shape == (68, 2)
        errors.append(nme(faces[0].landmarks68, truth))
    assert len(errors) > 50
    assert np.mean(errors) <= 0.05, np.mean(errors)
    assert np.percentile(errors, 90) <= 0.08


def test_obj_files_load_with_texture(tmp_path):
    photos = [p for p, _ in annotated_faces(shared_path("faces/helen_test"), every=110)]
    photos += [p for p, _ in annotated_faces(shared_path("faces/afw"), every=110)]
    for photo in photos:
        faces = facerecon.reconstruct(photo, max_faces=1)
        faces[0].save(tmp_path, photo.stem)
        scene = trimesh.load(tmp_path / f"{photo.stem}.obj", process=False)
        meshes = list(scene.geometry.values())
        assert all(m.visual.kind == "texture" and m.visual.material.image is not None for m in meshes)
        skin = next(m for m in meshes if m.visual.material.image.size == (1024, 1024))
        assert len(skin.vertices) >= 5000
        assert np.asarray(skin.visual.material.image.convert("RGB")).min(axis=2).mean() > 20  # no black holes


def test_sample_reconstruction(astronaut, tmp_path):
    face = astronaut[0]
    assert len(astronaut) == 1
    assert face.vertices.shape == (11248, 3) and np.isfinite(face.vertices).all()
    assert set(face.pose) == {"yaw", "pitch", "roll", "rotation", "translation"}
    assert abs(face.pose["yaw"]) < 25 and face.pose["translation"][2] < 0
    assert len(face.expression) == 52 and all(0 <= w <= 1 for w in face.expression.values())
    assert face.expression["mouthSmileLeft"] > 0.3 and face.expression["mouthSmileRight"] > 0.3  # she smiles
    paths = face.save(tmp_path, "astro")
    assert sorted(p.name for p in paths) == sorted(
        ["astro.obj", "astro.mtl", "astro.glb", "astro_texture.png", "astro.json", "astro_overlay.png",
         "astro_albedo.png", "astro_render.png", "astro_parts.png"]
    )  # fmt: skip
    record = json.loads((tmp_path / "astro.json").read_text())
    assert record["files"]["texture"] == "astro_texture.png"
    assert np.allclose(record["landmarks68"], face.landmarks68, atol=0.01)
    # The landmarks project inside the detected face box.
    x0, y0, x1, y1 = face.bbox
    assert (face.landmarks68[:, 0] > x0 - 20).all() and (face.landmarks68[:, 0] < x1 + 20).all()
    assert (face.landmarks68[:, 1] > y0 - 20).all() and (face.landmarks68[:, 1] < y1 + 20).all()


def test_texture_has_no_holes_or_seams(astronaut):
    texture = astronaut[0].texture.astype(np.float64)
    assert texture.min(axis=2).mean() > 30
    # Smoothly filled: no jumps between neighbouring texels bigger than the photo's own edges.
    jumps = np.abs(np.diff(texture, axis=0)).max(axis=2)
    assert np.percentile(jumps, 99.9) < 80


def test_several_faces_largest_first():
    photo = shared_path("faces/afw/4285163979_1.jpg")  # a group photo with 18 annotated faces
    faces = facerecon.reconstruct(photo, texture_size=64)
    assert len(faces) >= 5
    areas = [(f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]) for f in faces]
    assert areas == sorted(areas, reverse=True)
    assert len(facerecon.reconstruct(photo, max_faces=1, texture_size=64)) == 1


def test_cli_input_writes_output_3d(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "facerecon", "--input", str(SAMPLE)], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "output_3d.glb",
        "output_3d.json",
        "output_3d.mtl",
        "output_3d.obj",
        "output_3d_albedo.png",
        "output_3d_overlay.png",
        "output_3d_parts.png",
        "output_3d_render.png",
        "output_3d_texture.png",
    ]


def test_posed_vertices_project_onto_the_landmarks(astronaut, model):
    """The documented conventions hold together: pose, camera and landmarks68 agree."""
    import torch

    from facerecon.camera import PerspectiveCamera
    from facerecon.model.surface import surface_points

    face = astronaut[0]
    camera = PerspectiveCamera(**face.camera)
    posed = surface_points(face.posed_vertices(), face.faces, model.landmarks68.tri, model.landmarks68.bary)
    projected = camera.project(torch.from_numpy(posed)).numpy()
    assert np.allclose(projected, face.landmarks68, atol=0.05)


def test_one_reconstructor_serves_threads_at_once(reconstructor):
    """Photos reconstructed by one Reconstructor from four threads at once come out as they do one by one
    (the web app serves concurrent users with it)."""
    from concurrent.futures import ThreadPoolExecutor

    photos = [p for p, _ in annotated_faces(shared_path("faces/helen_test"), every=80)][:4]

    def run(photo):
        return reconstructor.reconstruct(photo, max_faces=1, texture_size=128)[0]

    alone = [run(photo) for photo in photos]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(run, photos))
    for one, other in zip(alone, together, strict=True):
        # cm: 0.1 mm. Torch splits its sums differently when four threads share its pool, and the photometric
        # steps carry that on (up to 0.013 mm seen: 2 of 8 runs broke a 0.01 mm bound); shared state moves mm.
        assert np.abs(one.vertices - other.vertices).max() < 1e-2
        assert np.abs(one.texture.astype(int) - other.texture).mean() < 0.5
        assert abs(one.expression["jawOpen"] - other.expression["jawOpen"]) < 1e-3
