"""Shading and soft edges for the differentiable renderer (PyTorch, CPU).

Lighting is 2nd-order spherical harmonics (9 coefficients per RGB channel) of the irradiance on a
Lambertian surface (Ramamoorthi and Hanrahan 2001): colour = albedo * (sh_basis(normal) @ coefficients),
with unit normals in camera space. `AMBIENT` coefficients give irradiance 1 from every direction.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from facerecon.render.rasterize import Fragments

# Real SH normalisation constants times the cosine-lobe convolution factors (pi, 2pi/3, pi/4).
_C0 = math.pi * 0.5 / math.sqrt(math.pi)
_C1 = (2 * math.pi / 3) * math.sqrt(3 / (4 * math.pi))
_C2 = (math.pi / 4) * 0.5 * math.sqrt(15 / math.pi)
_C3 = (math.pi / 4) * 0.25 * math.sqrt(5 / math.pi)
_C4 = (math.pi / 4) * 0.25 * math.sqrt(15 / math.pi)
AMBIENT = torch.tensor([1 / _C0] + [0.0] * 8).unsqueeze(1).repeat(1, 3)  # (9, 3)


def sh_basis(normals: torch.Tensor) -> torch.Tensor:
    """Unit normals (..., 3) -> irradiance basis (..., 9)."""
    x, y, z = normals.unbind(-1)
    return torch.stack(
        [
            torch.full_like(x, _C0),
            _C1 * y,
            _C1 * z,
            _C1 * x,
            _C2 * x * y,
            _C2 * y * z,
            _C3 * (3 * z * z - 1),
            _C2 * x * z,
            _C4 * (x * x - y * y),
        ],
        dim=-1,
    )


def sh_shade(albedo: torch.Tensor, normals: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
    """albedo (..., 3) in [0, 1], unit normals (..., 3), coefficients (9, 3) -> colour (..., 3)."""
    return albedo * (sh_basis(normals) @ coefficients)


def soft_coverage(screen_xy: torch.Tensor, faces: torch.Tensor, fragments: Fragments, sigma: float = 0.5):
    """Coverage (H, W) in [0, 1] whose silhouette has gradients with respect to `screen_xy` (V, 2).

    Covered pixels count 1. Each uncovered pixel next to a covered one takes that neighbour's triangle and
    gets sigmoid(signed distance to it / sigma), so moving an edge towards the pixel raises its coverage.
    """
    tri = fragments.tri
    borrowed = tri.copy()
    padded = np.pad(tri, 1, constant_values=-1)
    h, w = tri.shape
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        neighbour = padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
        take = (borrowed < 0) & (neighbour >= 0)
        borrowed[take] = neighbour[take]
    band_y, band_x = np.nonzero((tri < 0) & (borrowed >= 0))
    coverage = torch.from_numpy(fragments.mask).to(screen_xy.dtype)
    if len(band_y) == 0:
        return coverage
    corners = screen_xy[faces[torch.from_numpy(borrowed[band_y, band_x])]]  # (N, 3, 2)
    pixel = torch.from_numpy(np.column_stack([band_x, band_y])).to(screen_xy.dtype)
    distance = torch.full((len(band_y),), float("inf"), dtype=screen_xy.dtype)
    for i, j, k in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
        a, b, c = corners[:, i], corners[:, j], corners[:, k]
        edge = b - a
        length = edge.norm(dim=-1).clamp_min(1e-9)
        side = _cross2(edge, pixel - a) / length
        inward = torch.sign(_cross2(edge, c - a))
        distance = torch.minimum(distance, side * inward)
    alpha = torch.sigmoid(distance / sigma)
    return coverage.index_put((torch.from_numpy(band_y), torch.from_numpy(band_x)), alpha)


def _cross2(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]
