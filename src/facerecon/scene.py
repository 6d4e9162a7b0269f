"""The per-face scene: one fitted face in a square working frame of its own, rasterised once.

The frame is a window around the posed head's projection, at a fixed resolution, seen through the photo's
camera cropped and scaled to it. Everything after the fit that asks which surface point the camera sees
(the GCN's vertex colours, the texture's visibility) or paints the face (the render) reads this one
rasterisation, so the cost of a face depends on the face, not on the photo's pixel count.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from scipy.sparse import csr_matrix

from facerecon.camera import CropWindow, PerspectiveCamera
from facerecon.metrics import bbox_of
from facerecon.model.face_model import FaceModel
from facerecon.model.surface import vertex_normals
from facerecon.parameters import Appearance, FitResult
from facerecon.reconstruction import Parts
from facerecon.render.rasterize import Fragments, nearer, rasterize
from facerecon.render.render import Surface, render, to_rgba8

SCENE_SIZE = 512  # pixels of the working frame: the head spans ~500, its vertices ~1-2 px apart
SCENE_MARGIN = 1.02  # frame side / longer side of the projected head
MIN_FACING = 0.2  # cosine between normal and view direction below which the photo is too oblique
DEPTH_TOLERANCE = 0.01  # relative depth slack of the visibility test


@dataclass(frozen=True)
class FaceScene:
    """One fitted face posed in its frame (`build`), and what the later stages ask of it."""

    model: FaceModel
    fit: FitResult
    vertices: np.ndarray  # (V, 3) fitted, model space
    camera_vertices: np.ndarray  # (V, 3) posed, camera space
    normals: np.ndarray  # (V, 3) unit, camera space
    window: CropWindow  # the frame, in photo pixels
    camera: PerspectiveCamera  # the photo's camera seen through the frame
    screen: np.ndarray  # (V, 3) float32: frame pixels x, y and depth
    facing: np.ndarray  # (V,) float32: cosine between the normal and the direction to the camera
    fragments: Fragments  # the posed head in the frame, back faces culled

    @classmethod
    def build(cls, fit: FitResult, model: FaceModel, size: int = SCENE_SIZE) -> FaceScene:
        vertices = fit.model_vertices(model)
        camera_vertices = fit.to_camera(vertices)
        window = CropWindow.around(bbox_of(fit.camera.to_screen(camera_vertices)[:, :2]), size, SCENE_MARGIN)
        camera = window.camera(fit.camera)
        screen = camera.to_screen(camera_vertices)
        fragments = rasterize(screen, model.faces, size, size, cull_back=True)
        normals = vertex_normals(camera_vertices, model.faces)
        facing = -(normals * camera_vertices).sum(1) / np.linalg.norm(camera_vertices, axis=1)
        return cls(model, fit, vertices, camera_vertices, normals, window, camera, screen.astype(np.float32),
                   facing.astype(np.float32), fragments)  # fmt: skip

    def pixel_of(self, screen: np.ndarray) -> np.ndarray:
        """(N,) the flat index of the frame pixel nearest each frame position (N, 2+), clamped to the frame
        (flat: np.take reads a flat index ~3x faster than NumPy's two-axis fancy indexing)."""
        size = self.fragments.depth.shape[1]
        x = np.clip(np.rint(screen[:, 0]), 0, size - 1).astype(np.intp)
        y = np.clip(np.rint(screen[:, 1]), 0, size - 1).astype(np.intp)
        return y * size + x

    def sees(self, screen: np.ndarray, facing: np.ndarray, pixel: np.ndarray) -> np.ndarray:
        """(N,) bool: which surface points, at frame positions `screen` (N, 3: x, y, depth) with facing cosines
        `facing` (N,) (from `at`) and nearest frame pixels `pixel` (N,) (from `pixel_of`), the photo shows:
        inside the photo, facing the camera by more than MIN_FACING, in front in the z-buffer."""
        photo = self.fit.camera
        (left, top), (right, bottom) = self.window.to_crop(np.array([[0, 0], [photo.width - 1, photo.height - 1]]))
        x, y = screen[:, 0], screen[:, 1]
        inside = (x >= left) & (x <= right) & (y >= top) & (y <= bottom)
        in_front = screen[:, 2] <= np.take(self.fragments.depth.ravel(), pixel) * (1 + DEPTH_TOLERANCE)
        return inside & in_front & (facing > MIN_FACING)

    def inside(self, polygon: np.ndarray, pixel: np.ndarray) -> np.ndarray:
        """(N,) bool: which frame pixels (N,) (flat, from `pixel_of`) fall inside a polygon (M, 2) given in
        photo pixels."""
        mask = np.zeros(self.fragments.depth.shape, dtype=np.uint8)
        corners = np.rint(self.window.to_crop(polygon) * 16).astype(np.int32)  # 4 bits of sub-pixel precision
        cv2.fillPoly(mask, [corners], 1, cv2.LINE_8, 4)
        return np.take(mask.ravel(), pixel).astype(bool)

    def at(self, weights: csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """Frame position (N, 3) and facing cosine (N,) of surface points given by a sparse (N, V) matrix of
        barycentric weights, interpolated from their triangles' corners (a triangle spans a pixel or two: the
        perspective error is far below one)."""
        out = weights @ np.concatenate([self.screen, self.facing[:, None]], axis=1)
        return out[:, :3], out[:, 3]

    def photo_colors(self, image: np.ndarray, screen: np.ndarray, max_side: int) -> np.ndarray:
        """Colours (N, 3) float32 of the photo at frame positions (N, 2+), bilinear, from the frame's window of
        the photo area-filtered down to `max_side` pixels where the photo is finer than that."""
        window = self.window
        if window.side <= max_side:
            xy = window.from_crop(screen)
        else:  # the same window at max_side pixels: frame positions scale about its corner
            source = CropWindow(window.x0, window.y0, window.side, max_side)
            image, xy = source.warp(image), screen[:, :2] * np.float32(max_side / window.size)
        return bilinear_sample(image, xy[:, 0], xy[:, 1])

    def render(self, appearance: Appearance, parts: Parts | None = None) -> np.ndarray:
        """The frame's RGBA (S, S, 4) uint8: fitted albedo x fitted lighting, alpha = coverage; with `parts`,
        the eyes and the mouth's inside in their colours under the same light (rasterised alone and merged with
        the head's fragments by depth)."""
        vertices, faces, colours = self.camera_vertices, self.model.faces, appearance.albedo
        fragments = self.fragments
        if parts is not None:  # only the parts are rasterised; the head's fragments are the scene's
            posed_parts = self.fit.to_camera(parts.vertices)
            size = self.camera.width
            drawn = rasterize(self.camera.to_screen(posed_parts), parts.faces, size, size, cull_back=True)
            fragments = nearer(fragments, drawn, len(faces))
            vertices = np.concatenate([vertices, posed_parts])
            faces = np.concatenate([faces, parts.faces + len(self.camera_vertices)])
            colours = np.concatenate([colours, parts.vertex_colors / 255.0])
        with torch.no_grad():
            out = render(
                torch.from_numpy(vertices).float(),
                torch.from_numpy(faces),
                self.camera,
                Surface(vertex_colors=torch.from_numpy(colours).float()),
                torch.from_numpy(appearance.lighting).float(),
                fragments,
            )
        return to_rgba8(out)

    def render_in_photo(self, appearance: Appearance, parts: Parts | None = None) -> np.ndarray:
        """The render (with `parts`, see `render`) at the photo's size, RGBA (H, W, 4) uint8, transparent
        outside the frame."""
        photo = self.fit.camera
        out = np.zeros((photo.height, photo.width, 4), dtype=np.uint8)
        w = self.window
        left, top = max(int(np.floor(w.x0)), 0), max(int(np.floor(w.y0)), 0)
        right = min(int(np.ceil(w.x0 + w.side)) + 1, photo.width)
        bottom = min(int(np.ceil(w.y0 + w.side)) + 1, photo.height)
        if right > left and bottom > top:
            s = w.scale  # photo pixel (left + i, top + j) is frame pixel s * (left + i - x0), s * (top + j - y0)
            matrix = np.array([[s, 0, s * (left - w.x0)], [0, s, s * (top - w.y0)]])
            out[top:bottom, left:right] = cv2.warpAffine(self.render(appearance, parts), matrix,
                                                         (right - left, bottom - top),
                                                         flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)  # fmt: skip
        return out


def bilinear_sample(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Colours (N, C) float32 of an (H, W, C) image at pixel positions x, y (clamped to the border)."""
    n = len(x)
    rows = -(-n // 1024) or 1  # cv2.remap wants a 2D map of under 32,767 on each side
    pad = rows * 1024 - n
    map_x = np.pad(x.astype(np.float32), (0, pad)).reshape(rows, 1024)
    map_y = np.pad(y.astype(np.float32), (0, pad)).reshape(rows, 1024)
    out = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(rows * 1024, -1)[:n].astype(np.float32)
