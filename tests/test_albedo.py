"""De-lighting, tested the way it is meant: one face with a known albedo rendered under two different
lightings; the albedos recovered from the two renders must agree with each other and with the truth: the
de-lit texture, and the GCN's per-vertex albedo (what `_render.png` shows)."""

from dataclasses import replace

import numpy as np
import pytest
import torch

import facerecon
from facerecon.camera import PerspectiveCamera, euler_to_matrix
from facerecon.export.ply import vertex_colors
from facerecon.render.rasterize import rasterize
from facerecon.render.render import Surface, over_background, render

NARROW_FACE = 6706  # ICT's narrow face area: vertices 0-6,705, seen in both renders


def lighting(side: float) -> torch.Tensor:
    """SH irradiance 0.65 + 0.35 n_x * side + 0.25 n_z + 0.1 n_y (camera space; side -1: from the left)."""
    coefficients = torch.zeros(9, 3)
    coefficients[0] = 0.65 / 0.886  # sh_basis: constant 0.886, y 1.023 (index 1), z (2), x (3)
    coefficients[3] = 0.35 * side / 1.023
    coefficients[2] = 0.25 / 1.023
    coefficients[1] = 0.1 / 1.023
    return coefficients


@pytest.fixture(scope="module")
def albedos(astronaut, model):
    """The truth (the sample's de-lit albedo) and the albedos recovered from its renders lit from the left
    and from the right, as float arrays over the narrow face's texels."""
    face = astronaut[0]
    camera = PerspectiveCamera.for_image(512, 512)
    vertices = face.vertices @ euler_to_matrix(10, 0, 0).T + np.array([0.0, 1.0, -55.0])
    surface = Surface.textured(face.albedo_texture, face.uv, face.face_uv)
    recovered, per_vertex = [], []
    for side in (-1.0, 1.0):
        with torch.no_grad():
            out = render(
                torch.from_numpy(vertices).float(), torch.from_numpy(face.faces), camera, surface, lighting(side)
            )
        frame = over_background(out, 120.0).astype(np.uint8)
        result = facerecon.reconstruct(frame, max_faces=1)[0]
        recovered += [result.albedo_texture, result.texture]
        per_vertex.append(result.vertex_albedo[:NARROW_FACE] * 255)
    size = face.albedo_texture.shape[0]
    uv = np.column_stack([face.uv[:, 0] * size - 0.5, (1 - face.uv[:, 1]) * size - 0.5, np.ones(len(face.uv))])
    narrow = np.flatnonzero((model.faces < NARROW_FACE).all(axis=1))
    texels = rasterize(uv, face.face_uv[narrow], size, size).mask
    # The truth at each vertex: the albedo texture at its UV (the PLY exporter's sampling).
    vertex_truth = vertex_colors(replace(face.meshes[0], texture=face.albedo_texture))[:NARROW_FACE]
    textures = [a[texels].astype(np.float64) for a in (face.albedo_texture, *recovered)]  # truth, (de-lit, lit) x 2
    return textures, [vertex_truth.astype(np.float64), *per_vertex]


def test_albedos_from_two_lightings_agree(albedos):
    (truth, left, left_lit, right, right_lit), (vertex_truth, gcn_left, gcn_right) = albedos

    def relative(albedo: np.ndarray) -> np.ndarray:  # light and albedo share a free scale: compare shapes
        return albedo / np.median(albedo, axis=0) * np.median(truth, axis=0)

    report = {
        "lit textures, between the lightings": np.abs(left_lit - right_lit).mean(),
        "albedo, between the lightings": np.abs(left - right).mean(),
        "albedo, to the truth": np.mean([np.abs(a - truth).mean() for a in (left, right)]),
        "albedo up to scale, between": np.abs(relative(left) - relative(right)).mean(),
        "albedo up to scale, to the truth": np.mean([np.abs(relative(a) - truth).mean() for a in (left, right)]),
        "GCN albedo, between the lightings": np.abs(gcn_left - gcn_right).mean(),
        "GCN albedo, to the truth": np.mean([np.abs(a - vertex_truth).mean() for a in (gcn_left, gcn_right)]),
    }
    print("; ".join(f"{k} {v:.1f}" for k, v in report.items()), "(grey levels)")
    assert report["albedo, between the lightings"] < 0.6 * report["lit textures, between the lightings"]
    assert report["GCN albedo, between the lightings"] < 0.6 * report["lit textures, between the lightings"]
