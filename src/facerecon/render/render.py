"""Render a mesh with the primitives: rasterize -> interpolate -> shade -> soft edges.

Colours come from per-vertex colours or from a UV texture; lighting is SH irradiance (render.shade) or
none (colours as they are). Everything is differentiable with respect to camera-space vertex positions,
colours, texture and lighting, except which triangle covers which pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from facerecon.camera import PerspectiveCamera
from facerecon.model.surface import vertex_normals
from facerecon.render.rasterize import Fragments, barycentrics, interpolate_covered, laid_out, rasterize
from facerecon.render.shade import sh_shade, soft_coverage


@dataclass
class Rendering:
    rgb: torch.Tensor  # (H, W, 3), premultiplied by nothing: background is 0
    alpha: torch.Tensor  # (H, W) coverage in [0, 1]
    fragments: Fragments


@dataclass
class Surface:
    """What to paint: per-vertex colours (V, 3), or a texture (S, S, 3) in [0, 1] with uv (T, 2) and
    face_uv (F, 3) (UV (0, 0) = bottom-left)."""

    vertex_colors: torch.Tensor | None = None
    texture: torch.Tensor | None = None
    uv: torch.Tensor | None = None
    face_uv: torch.Tensor | None = None

    @classmethod
    def textured(cls, texture: np.ndarray, uv: np.ndarray, face_uv: np.ndarray) -> Surface:
        """A uint8 texture image (S, S, 3) with its UV layout, as a renderable surface."""
        return cls(
            texture=torch.from_numpy(texture.astype(np.float32) / 255.0),
            uv=torch.from_numpy(np.asarray(uv, dtype=np.float32)),
            face_uv=torch.from_numpy(np.asarray(face_uv)),
        )


def render(
    camera_vertices: torch.Tensor,
    faces: torch.Tensor,
    camera: PerspectiveCamera,
    surface: Surface,
    lighting: torch.Tensor | None = None,
    fragments: Fragments | None = None,
) -> Rendering:
    """Render at the camera's width x height. Pass `fragments` to reuse a rasterisation (the gradients
    stay exact while no triangle changes which pixels it covers)."""
    screen = camera.to_screen(camera_vertices)
    if fragments is None:
        fragments = rasterize(screen.detach().numpy(), faces.numpy(), camera.height, camera.width, cull_back=True)
    # Barycentrics differentiable in the vertices only when they need gradients; else the rasteriser's.
    bary = barycentrics(screen[:, :2], faces, fragments) if camera_vertices.requires_grad else None
    # Colour and shading at the covered pixels alone, then laid out in the image (zero elsewhere).
    if surface.vertex_colors is not None:
        colour = interpolate_covered(surface.vertex_colors, faces, fragments, bary)
    else:
        uv = interpolate_covered(surface.uv, surface.face_uv, fragments, bary)
        grid = torch.stack([uv[:, 0] * 2 - 1, 1 - uv[:, 1] * 2], dim=-1)[None, None]  # (1, 1, N, 2)
        texture = surface.texture.permute(2, 0, 1)[None]
        colour = F.grid_sample(texture, grid, mode="bilinear", align_corners=False)[0, :, 0].T
    if lighting is not None:
        normals = interpolate_covered(vertex_normals(camera_vertices, faces), faces, fragments, bary)
        normals = normals / normals.norm(dim=-1, keepdim=True).clamp_min(1e-9)
        colour = sh_shade(colour, normals, lighting)
    colour = laid_out(colour, fragments)
    alpha = soft_coverage(screen[:, :2], faces, fragments)
    return Rendering(colour, alpha, fragments)


def over_background(rendering: Rendering, background: float) -> np.ndarray:
    """(H, W, 3) float image in [0, 255]: the rendering over a flat grey of value `background`."""
    alpha = rendering.alpha.detach().clamp(0, 1).numpy()[..., None]
    return rendering.rgb.detach().clamp(0, 1).numpy() * 255 * alpha + background * (1 - alpha)


def to_rgba8(rendering: Rendering) -> np.ndarray:
    """(H, W, 4) uint8 image: colour where covered, alpha = coverage."""
    rgb = rendering.rgb.detach().clamp(0, 1).numpy()
    alpha = rendering.alpha.detach().clamp(0, 1).numpy()[..., None]
    return np.rint(np.concatenate([rgb, alpha], axis=-1) * 255).astype(np.uint8)
