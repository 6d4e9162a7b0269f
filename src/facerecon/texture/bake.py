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

from facerecon.fit.landmark_fit import FitResult, camera_to_screen
from facerecon.model.face_model import FaceModel
from facerecon.model.surface import vertex_normals
from facerecon.render.rasterize import rasterize

MIN_FACING = 0.2  # cosine between normal and view direction below which the photo is too oblique
DEPTH_TOLERANCE = 0.01  # relative depth slack of the visibility test


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

    def bake(self, image: np.ndarray, fit: FitResult, vertices: np.ndarray) -> BakedTexture:
        """image: RGB uint8 photo; vertices: fitted model-space vertices (V, 3)."""
        h, w = image.shape[:2]
        camera_vertices = fit.to_camera(vertices).astype(np.float32)
        zbuffer = rasterize(fit.to_screen(vertices), self.model.faces, h, w).depth
        normals = vertex_normals(camera_vertices, self.model.faces).astype(np.float32)

        colour = np.zeros((len(self.texel_tri), 3), dtype=np.float32)
        todo = np.arange(len(self.texel_tri))
        seen_by_pass = []
        for corners in (self.model.faces, self.model.mirror[self.model.faces]):
            xy, seen = self._project(fit, camera_vertices, normals, zbuffer, corners, todo)
            colour[todo[seen]] = bilinear_sample(image, xy[seen, 0], xy[seen, 1])
            seen_by_pass.append(todo[seen])
            todo = todo[~seen]
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

    def _project(
        self,
        fit: FitResult,
        camera_vertices: np.ndarray,
        normals: np.ndarray,
        zbuffer: np.ndarray,
        corners: np.ndarray,
        texels: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pixel positions (N, 2) of these texels' surface points (on triangles with these corners) and
        whether the photo sees them there."""
        h, w = zbuffer.shape
        tri, bary = corners[self.texel_tri[texels]], self.texel_bary[texels]
        points = np.einsum("nk,nkd->nd", bary, camera_vertices[tri])
        normal = np.einsum("nk,nkd->nd", bary, normals[tri])
        screen = camera_to_screen(fit.camera, points)
        x, y = screen[:, 0], screen[:, 1]
        inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
        return screen[:, :2], inside & seen_by_camera(points, normal, zbuffer, screen)


def seen_by_camera(points: np.ndarray, normals: np.ndarray, zbuffer: np.ndarray, screen: np.ndarray) -> np.ndarray:
    """(N,) bool: camera-space surface points (N, 3) with normals (N, 3) that face the camera steeply
    enough and are in front in the z-buffer, where they fall at `screen` (N, 3: x, y in its pixels, depth)."""
    h, w = zbuffer.shape
    xi = np.clip(np.rint(screen[:, 0]), 0, w - 1).astype(int)
    yi = np.clip(np.rint(screen[:, 1]), 0, h - 1).astype(int)
    in_front = screen[:, 2] <= zbuffer[yi, xi] * (1 + DEPTH_TOLERANCE)
    cosine = -(normals * points).sum(1) / (np.linalg.norm(normals, axis=1) * np.linalg.norm(points, axis=1))
    return in_front & (cosine > MIN_FACING)


def bilinear_sample(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Colours (N, C) float32 of an (H, W, C) image at pixel positions x, y (clamped to the border)."""
    n = len(x)
    rows = -(-n // 1024) or 1  # cv2.remap wants a 2D map of under 32,767 on each side
    pad = rows * 1024 - n
    map_x = np.pad(x.astype(np.float32), (0, pad)).reshape(rows, 1024)
    map_y = np.pad(y.astype(np.float32), (0, pad)).reshape(rows, 1024)
    out = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(rows * 1024, -1)[:n].astype(np.float32)


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
