"""A turntable GIF of the textured meshes (skin, eyes, mouth): the head swings from one side to the other
under a soft frontal light; or single views at chosen yaws."""

from __future__ import annotations

import io

import cv2
import numpy as np
import torch
from PIL import Image

from facerecon.camera import PerspectiveCamera, euler_to_matrix
from facerecon.reconstruction import Reconstruction, TexturedMesh, stacked_indices
from facerecon.render.render import Surface, over_background, render
from facerecon.render.shade import AMBIENT, sh_basis

BACKGROUND = np.array([235, 235, 235], dtype=np.float32)


def turntable_gif(recon: Reconstruction, *, frames: int = 24, size: int = 320, max_yaw: float = 70.0) -> bytes:
    """The skin, eyes and mouth turning from one side to the other, as a GIF."""
    yaws = [max_yaw * np.sin(2 * np.pi * t / frames) for t in range(frames)]
    images = [Image.fromarray(view) for view in turntable_views(recon, yaws, size)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=80, loop=0)
    return buffer.getvalue()


def turntable_views(recon: Reconstruction, yaws: list[float], size: int = 320) -> list[np.ndarray]:
    """RGB (size, size, 3) uint8 views of the head turned by each yaw (degrees) under a soft frontal light."""
    merged, faces, surface = one_textured_mesh(recon.meshes)
    vertices = torch.from_numpy(merged)
    centre = (vertices.max(0).values + vertices.min(0).values) / 2
    extent = float((vertices.max(0).values - vertices.min(0).values).max())
    camera = PerspectiveCamera(focal=size * 2.5, cx=(size - 1) / 2, cy=(size - 1) / 2, width=size, height=size)
    distance = camera.focal * extent * 1.15 / size
    # Irradiance 0.7 + 0.4 * n_z: ambient plus a light from the camera.
    frontal = sh_basis(torch.tensor([0.0, 0.0, 1.0]))[2]
    lighting = AMBIENT * 0.7
    lighting[2] = 0.4 / frontal
    views = []
    with torch.no_grad():
        for yaw in yaws:
            rotation = torch.from_numpy(euler_to_matrix(yaw, 0.0, 0.0)).float()
            posed = (vertices - centre) @ rotation.T + torch.tensor([0.0, 0.0, -distance])
            rgb = over_background(render(posed, faces, camera, surface, lighting), BACKGROUND)
            views.append(np.rint(rgb).astype(np.uint8))
    return views


def one_textured_mesh(meshes: list[TexturedMesh]) -> tuple[np.ndarray, torch.Tensor, Surface]:
    """Meshes with their own textures as one mesh on one atlas (their textures side by side, scaled to the
    first one's size; meshes that share a texture share its place): vertices (V, 3), faces, surface."""
    slots: dict[int, int] = {}
    for mesh in meshes:
        slots.setdefault(id(mesh.texture), len(slots))
    side = meshes[0].texture.shape[0]
    atlas = np.zeros((side, side * len(slots), 3), dtype=np.uint8)
    for mesh in meshes:
        left = slots[id(mesh.texture)] * side
        atlas[:, left : left + side] = cv2.resize(mesh.texture, (side, side), interpolation=cv2.INTER_AREA)
    uv = np.concatenate([(m.uv + np.array([slots[id(m.texture)], 0.0])) / [len(slots), 1] for m in meshes])
    faces = stacked_indices([m.faces for m in meshes], [len(m.vertices) for m in meshes])
    face_uv = stacked_indices([m.face_uv for m in meshes], [len(m.uv) for m in meshes])
    vertices = np.concatenate([m.vertices for m in meshes]).astype(np.float32)
    return vertices, torch.from_numpy(faces), Surface.textured(atlas, uv, face_uv)
