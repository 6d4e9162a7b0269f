"""A turntable GIF of the textured mesh: the head swings from one side to the other under a soft
frontal light."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from facerecon.camera import PerspectiveCamera, euler_to_matrix
from facerecon.reconstruction import Reconstruction
from facerecon.render.render import Surface, over_background, render
from facerecon.render.shade import AMBIENT, sh_basis

BACKGROUND = np.array([235, 235, 235], dtype=np.float32)


def turntable_gif(recon: Reconstruction, *, frames: int = 24, size: int = 320, max_yaw: float = 70.0) -> bytes:
    vertices = torch.from_numpy(np.asarray(recon.vertices, dtype=np.float32))
    centre = (vertices.max(0).values + vertices.min(0).values) / 2
    extent = float((vertices.max(0).values - vertices.min(0).values).max())
    camera = PerspectiveCamera(focal=size * 2.5, cx=(size - 1) / 2, cy=(size - 1) / 2, width=size, height=size)
    distance = camera.focal * extent * 1.15 / size
    # Irradiance 0.7 + 0.4 * n_z: ambient plus a light from the camera.
    frontal = sh_basis(torch.tensor([0.0, 0.0, 1.0]))[2]
    lighting = AMBIENT * 0.7
    lighting[2] = 0.4 / frontal
    surface = Surface.textured(recon.texture, recon.uv, recon.face_uv)
    faces = torch.from_numpy(np.asarray(recon.faces))
    images = []
    with torch.no_grad():
        for t in range(frames):
            yaw = max_yaw * np.sin(2 * np.pi * t / frames)
            rotation = torch.from_numpy(euler_to_matrix(yaw, 0.0, 0.0)).float()
            posed = (vertices - centre) @ rotation.T + torch.tensor([0.0, 0.0, -distance])
            rgb = over_background(render(posed, faces, camera, surface, lighting), BACKGROUND)
            images.append(Image.fromarray(np.rint(rgb).astype(np.uint8)))
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=80, loop=0)
    return buffer.getvalue()
