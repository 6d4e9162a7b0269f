"""Bake a UV texture from the photo: project the fitted mesh, sample visible texels, fill the rest.

Texels the photo sees (in front in the z-buffer, facing the camera) take the photo's colour; texels it
cannot see take the colour of their mirror image on the other side of the face where that is visible;
whatever remains (back of the head, texels between UV islands) is filled smoothly by push-pull, so no
black holes or seams remain. UV (0, 0) is the bottom-left of the texture (OBJ and glTF convention after
their own flips).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.sparse import csr_matrix

from facerecon.model.face_model import FaceModel
from facerecon.render.rasterize import rasterize
from facerecon.scene import FaceScene

# The photo is read through the face's window at up to this many times the texture's side in pixels; a finer
# photo is area-filtered down to that first (the face fills ~half the texture: ~2 window pixels per texel).
SOURCE_OVERSAMPLING = 2


@dataclass(frozen=True)
class BakedTexture:
    texture: np.ndarray  # (S, S, 3) uint8
    seen: np.ndarray  # (S, S) bool: texels the photo shows directly (not mirrored, not filled)


class TextureBaker:
    """Rasterises the UV layout once; bakes a texture per fitted face.

    Each texel is a surface point: `texel_weights` is the sparse (N, V) matrix of its triangle's barycentrics,
    so that any per-vertex value reaches every texel in one product; `mirror_weights` is the same for the
    mirror image of each texel's point on the other side of the face.
    """

    def __init__(self, model: FaceModel, size: int = 1024):
        self.model, self.size = model, size
        uv_screen = np.column_stack(
            [model.uv[:, 0] * size - 0.5, (1 - model.uv[:, 1]) * size - 0.5, np.ones(len(model.uv))]
        )
        frags = rasterize(uv_screen, model.face_uv, size, size)
        self.texel_mask = frags.mask
        self.texel_index = np.flatnonzero(frags.mask)  # into the flattened (S * S) texture
        tri, bary = frags.tri[frags.mask], frags.bary[frags.mask]
        rows = np.arange(0, 3 * len(tri) + 1, 3)
        shape = (len(tri), len(model.mean))
        self.texel_weights = csr_matrix((bary.ravel(), model.faces[tri].ravel(), rows), shape=shape)
        self.mirror_weights = csr_matrix((bary.ravel(), model.mirror[model.faces[tri]].ravel(), rows), shape=shape)

    def bake(self, image: np.ndarray, scene: FaceScene) -> BakedTexture:
        """image: the RGB uint8 photo; scene: the fitted face's (facerecon.scene)."""
        screen, facing = scene.at(self.texel_weights)
        direct = scene.sees(screen, facing)
        todo = np.flatnonzero(~direct)
        mirror_screen, mirror_facing = scene.at(self.mirror_weights[todo])
        mirrored = scene.sees(mirror_screen, mirror_facing)
        texels = np.concatenate([np.flatnonzero(direct), todo[mirrored]])
        colour = scene.photo_colors(image, np.concatenate([screen[direct], mirror_screen[mirrored]]),
                                    SOURCE_OVERSAMPLING * self.size)  # fmt: skip
        texture = np.zeros((self.size * self.size, 3), dtype=np.float32)
        texture[self.texel_index[texels]] = colour
        valid = np.zeros(self.size * self.size, dtype=bool)
        valid[self.texel_index[texels]] = True
        filled = push_pull_fill(texture.reshape(self.size, self.size, 3), valid.reshape(self.size, self.size))
        return BakedTexture(np.clip(filled + 0.5, 0, 255).astype(np.uint8), self.to_texture(direct))

    def to_texture(self, values: np.ndarray, fill: float | np.ndarray = 0) -> np.ndarray:
        """Per-texel values (N, ...) laid out as the texture (S, S, ...), `fill` outside the UV islands."""
        out = np.full((self.size * self.size, *values.shape[1:]), fill, dtype=values.dtype)
        out[self.texel_index] = values
        return out.reshape(self.size, self.size, *values.shape[1:])


def push_pull_fill(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fill invalid pixels of (H, W, C) `values` smoothly from valid ones (pull: weighted image pyramid;
    push: coarser levels fill the holes of finer ones). Valid pixels are returned unchanged."""
    values = np.asarray(values, dtype=np.float32)
    weight = valid.astype(np.float32)
    if not weight.any():
        return np.zeros_like(values)
    h, w = values.shape[:2]
    if min(h, w) <= 1:
        mean = (values * weight[..., None]).sum((0, 1)) / weight.sum()
        return np.where(valid[..., None], values, mean)
    size = ((w + 1) // 2, (h + 1) // 2)
    # Averages of colour x weight and of weight over 2x2 blocks; their ratio is the weighted mean colour.
    coarse_sum = cv2.resize(values * weight[..., None], size, interpolation=cv2.INTER_AREA).reshape(
        size[1], size[0], -1
    )
    coarse_w = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
    coarse = coarse_sum / np.maximum(coarse_w, 1e-12)[..., None]
    coarse = push_pull_fill(coarse, coarse_w > 0)
    up = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, -1)
    return np.where(valid[..., None], values, up)
