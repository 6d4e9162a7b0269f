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
    """Rasterises the UV layout once; bakes a texture per fitted face."""

    def __init__(self, model: FaceModel, size: int = 1024):
        self.model, self.size = model, size
        uv_screen = np.column_stack(
            [model.uv[:, 0] * size - 0.5, (1 - model.uv[:, 1]) * size - 0.5, np.ones(len(model.uv))]
        )
        frags = rasterize(uv_screen, model.face_uv, size, size)
        self.texel_mask = frags.mask
        self.texel_tri = frags.tri[frags.mask]
        self.texel_bary = frags.bary[frags.mask]

    def bake(self, image: np.ndarray, scene: FaceScene) -> BakedTexture:
        """image: the RGB uint8 photo; scene: the fitted face's (facerecon.scene)."""
        todo = np.arange(len(self.texel_tri))
        seen_by_pass, screen_by_pass = [], []
        for corners in (self.model.faces, self.model.mirror[self.model.faces]):
            screen, facing = scene.at(corners[self.texel_tri[todo]], self.texel_bary[todo])
            seen = scene.sees(screen, facing)
            seen_by_pass.append(todo[seen])
            screen_by_pass.append(screen[seen])
            todo = todo[~seen]
        colour = np.zeros((len(self.texel_tri), 3), dtype=np.float32)
        colour[np.concatenate(seen_by_pass)] = scene.photo_colors(
            image, np.concatenate(screen_by_pass), SOURCE_OVERSAMPLING * self.size
        )
        direct = self.to_texture_mask(seen_by_pass[0])
        valid = direct | self.to_texture_mask(seen_by_pass[1])
        texture = np.zeros((self.size, self.size, 3), dtype=np.float32)
        texture[self.texel_mask] = colour
        baked = np.clip(push_pull_fill(texture, valid) + 0.5, 0, 255).astype(np.uint8)
        return BakedTexture(baked, direct)

    def per_texel(self, values: np.ndarray) -> np.ndarray:
        """Per-vertex values (V, C) interpolated to every texel (S, S, C); filled between UV islands."""
        out = np.zeros((self.size, self.size, values.shape[1]), dtype=np.float32)
        corners = self.model.faces[self.texel_tri]
        out[self.texel_mask] = np.einsum("nk,nkc->nc", self.texel_bary, values[corners].astype(np.float32))
        return push_pull_fill(out, self.texel_mask)

    def to_texture_mask(self, texels: np.ndarray) -> np.ndarray:
        mask = np.zeros(len(self.texel_tri), dtype=bool)
        mask[texels] = True
        full = np.zeros((self.size, self.size), dtype=bool)
        full[self.texel_mask] = mask
        return full


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
