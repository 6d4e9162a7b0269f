"""The de-lit UV albedo: the baked photo texture divided by the fitted SH irradiance.

Where the photo sees the surface, each texel is divided by its own irradiance; elsewhere (mirrored or
filled texels, whose colour came from another surface point) by the median irradiance of the seen ones.
"""

from __future__ import annotations

import numpy as np
import torch

from facerecon.render.shade import sh_basis
from facerecon.texture.bake import BakedTexture, TextureBaker

MIN_IRRADIANCE = 0.15  # below this, dividing amplifies noise: the model albedo is used instead


def delit_albedo(
    baker: TextureBaker,
    baked: BakedTexture,
    camera_normals: np.ndarray,
    lighting: np.ndarray,
) -> np.ndarray:
    """camera_normals: (V, 3) unit normals of the posed mesh; lighting: (9, 3). Returns (S, S, 3) uint8.
    The irradiance is evaluated per vertex and interpolated (it varies slowly across a triangle)."""
    normals = torch.from_numpy(np.asarray(camera_normals, dtype=np.float32))
    irradiance = baker.texel_weights @ (sh_basis(normals) @ torch.from_numpy(lighting).float()).numpy()  # (N, 3)
    dimmest = np.minimum(np.minimum(irradiance[:, 0], irradiance[:, 1]), irradiance[:, 2])
    usable = baked.seen[baker.texel_mask] & (dimmest > MIN_IRRADIANCE)
    albedo = np.empty(baked.texels.shape, dtype=np.uint8)
    for k in range(3):  # by column: NumPy gathers, scatters and reduces rows of 3 with a loop per row
        typical = max(float(np.median(irradiance[:, k][usable])), MIN_IRRADIANCE) if usable.any() else 1.0
        channel = np.where(usable, irradiance[:, k], typical)
        albedo[:, k] = np.clip(baked.texels[:, k].astype(np.float32) / 255.0 / channel * 255.0 + 0.5, 0, 255)
    return baker.layout(albedo)
