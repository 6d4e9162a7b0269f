"""A turntable GIF of the textured mesh: the head swings from one side to the other under a soft
frontal light."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from facerecon.camera import PerspectiveCamera, euler_to_matrix
from facerecon.reconstruction import Reconstruction
from facerecon.render.render import Surface, render
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
    surface = Surface(
        texture=torch.from_numpy(recon.texture.astype(np.float32) / 255.0),
        uv=torch.from_numpy(np.asarray(recon.uv, dtype=np.float32)),
        face_uv=torch.from_numpy(np.asarray(recon.face_uv)),
    )
    faces = torch.from_numpy(np.asarray(recon.faces))
    images = []
    with torch.no_grad():
        for t in range(frames):
            yaw = max_yaw * np.sin(2 * np.pi * t / frames)
            rotation = torch.from_numpy(euler_to_matrix(yaw, 0.0, 0.0)).float()
            posed = (vertices - centre) @ rotation.T + torch.tensor([0.0, 0.0, -distance])
            out = render(posed, faces, camera, surface, lighting)
            alpha = out.alpha.clamp(0, 1).numpy()[..., None]
            rgb = out.rgb.clamp(0, 1).numpy() * 255 * alpha + BACKGROUND * (1 - alpha)
            images.append(Image.fromarray(np.rint(rgb).astype(np.uint8)))
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=80, loop=0)
    return buffer.getvalue()
