"""Per-vertex colours seen in the photo: the input of the GCN refinement and of synthetic profiles."""

from __future__ import annotations

import numpy as np

from facerecon.scene import SCENE_SIZE, FaceScene


def sample_vertex_colors(image: np.ndarray, scene: FaceScene) -> tuple[np.ndarray, np.ndarray]:
    """Colours (V, 3) in [0, 1] of the fitted vertices where the photo shows them, and which it shows (V,).

    A vertex counts as shown when it lies inside the photo, faces the camera and is not hidden behind
    other parts of the head; hidden ones get colour 0. The photo is read at the frame's resolution.
    """
    shown = scene.sees(scene.screen, scene.facing, scene.pixel_of(scene.screen))
    colors = np.zeros((len(shown), 3), dtype=np.float32)
    colors[shown] = scene.photo_colors(image, scene.screen[shown], SCENE_SIZE) / 255.0
    return colors, shown
