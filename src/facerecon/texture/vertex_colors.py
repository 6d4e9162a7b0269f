"""Per-vertex colours seen in the photo: the input of the GCN refinement and of synthetic profiles."""

from __future__ import annotations

import numpy as np

from facerecon.fit.landmark_fit import FitResult
from facerecon.metrics import bbox_of
from facerecon.model.face_model import FaceModel
from facerecon.model.surface import vertex_normals
from facerecon.nets.crop import CropWindow
from facerecon.render.rasterize import rasterize
from facerecon.texture.bake import bilinear_sample, seen_by_camera

VISIBILITY_RESOLUTION = 128  # pixels of the z-buffer for the visibility test (vertices are ~1 px apart)


def sample_vertex_colors(
    image: np.ndarray, fit: FitResult, vertices: np.ndarray, model: FaceModel
) -> tuple[np.ndarray, np.ndarray]:
    """Colours (V, 3) in [0, 1] of the fitted vertices where the photo shows them, and which it shows (V,).

    A vertex counts as shown when it lies inside the photo, faces the camera and is not hidden behind
    other parts of the head (z-buffer of a face crop); hidden ones get colour 0.
    """
    camera_vertices = fit.to_camera(vertices)
    screen = fit.to_screen(vertices)
    window = CropWindow.around(bbox_of(screen[:, :2]), VISIBILITY_RESOLUTION, margin=1.02)
    crop_screen = np.column_stack([window.to_crop(screen), screen[:, 2]])
    zbuffer = rasterize(crop_screen, model.faces, window.size, window.size, cull_back=True).depth
    h, w = image.shape[:2]
    x, y = screen[:, 0], screen[:, 1]
    normals = vertex_normals(camera_vertices, model.faces)
    inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    shown = inside & seen_by_camera(camera_vertices, normals, zbuffer, crop_screen)
    colors = np.zeros((len(vertices), 3), dtype=np.float32)
    colors[shown] = bilinear_sample(image, x[shown], y[shown]) / 255.0
    return colors, shown
