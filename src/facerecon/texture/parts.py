"""The parts' texture: eyes with the photo's iris colour, teeth, gums and tongue, and a dark mouth socket.

Colours are painted per vertex (the iris by its distance from the iris centre, so no lids or lashes are
baked in) and rasterised into the parts' UV layout (one cell per material, see tools/build_face_model.py).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix

from facerecon.fit.gaze import IRIS_CENTRES
from facerecon.model.face_model import PartsModel
from facerecon.render.rasterize import rasterize
from facerecon.texture.bake import push_pull_fill

PARTS_TEXTURE_SIZE = 512
SCLERA = (226, 220, 212)
PUPIL = (12, 10, 10)
DEFAULT_IRIS = (92, 64, 44)  # brown, where the photo shows no iris
COLOURS = {"mouth_socket": (70, 28, 32), "gums_tongue": (170, 80, 88), "teeth": (228, 220, 200)}
# Angles from the eyeball's axis, seen from its centre: the iris within 29°, the pupil within 11°, the iris
# darkening towards its rim (the limbal ring) beyond 24° (chosen by eye on renders of ICT's ~15 mm eyeball).
IRIS_ANGLE, PUPIL_ANGLE, LIMBUS_ANGLE = 29.0, 11.0, 24.0
PUPIL_SHARE = 0.38  # pupil radius / iris radius in the photo, skipped when the iris colour is sampled


class PartsTexturer:
    """Rasterises the parts' UV layout once; paints a texture per fitted face."""

    def __init__(self, parts: PartsModel, size: int = PARTS_TEXTURE_SIZE):
        self.parts, self.size = parts, size
        uv_screen = np.column_stack([parts.uv[:, 0] * size - 0.5, (1 - parts.uv[:, 1]) * size - 0.5,
                                     np.ones(len(parts.uv))])  # fmt: skip
        frags = rasterize(uv_screen, parts.face_uv, size, size)
        self.mask = frags.mask
        tri, bary = frags.tri[frags.mask], frags.bary[frags.mask]
        rows = np.arange(0, 3 * len(tri) + 1, 3)
        self.weights = csr_matrix((bary.ravel(), parts.faces[tri].ravel(), rows), shape=(len(tri), len(parts.mean)))

    def colours(self, vertices: np.ndarray, iris: tuple[int, int, int] = DEFAULT_IRIS) -> np.ndarray:
        """(P, 3) uint8 colour of each part vertex at its fitted position `vertices` (P, 3), model space."""
        parts = self.parts
        colours = np.zeros((len(vertices), 3), dtype=np.float32)
        for name, colour in COLOURS.items():
            colours[parts.vertices_of(name)] = colour
        for eye in ("eye_left", "eye_right"):
            ids = parts.vertices_of(eye)
            centre, axis, _ = parts.eye_frame(vertices, eye)
            offsets = vertices[ids] - centre
            angle = np.degrees(np.arccos(np.clip(offsets @ axis / np.linalg.norm(offsets, axis=1), -1, 1)))
            rim = np.clip((angle - LIMBUS_ANGLE) / (IRIS_ANGLE - LIMBUS_ANGLE), 0, 1)[:, None]
            ring = np.asarray(iris, dtype=np.float32) * (1 - 0.6 * rim)
            iris_or_sclera = np.where((angle < IRIS_ANGLE)[:, None], ring, SCLERA)
            colours[ids] = np.where((angle < PUPIL_ANGLE)[:, None], PUPIL, iris_or_sclera)
        return np.clip(colours + 0.5, 0, 255).astype(np.uint8)

    def paint(self, colours: np.ndarray) -> np.ndarray:
        """(S, S, 3) uint8 texture of per-vertex colours (P, 3) in the parts' UV layout, gaps filled."""
        texture = np.zeros((self.size, self.size, 3), dtype=np.float32)
        texture[self.mask] = self.weights @ colours.astype(np.float32)
        return np.clip(push_pull_fill(texture, self.mask) + 0.5, 0, 255).astype(np.uint8)


def iris_colour(pixels: np.ndarray, landmarks: np.ndarray | None) -> tuple[int, int, int]:
    """The median colour of the photo's irises between pupil and rim (MediaPipe's points 468-477), or a
    default brown without them."""
    if landmarks is None or len(landmarks) < 478:
        return DEFAULT_IRIS
    h, w = pixels.shape[:2]
    samples = []
    for centre_id in IRIS_CENTRES.values():
        centre = landmarks[centre_id, :2]
        radius = float(np.linalg.norm(landmarks[centre_id + 1 : centre_id + 5, :2] - centre, axis=1).mean())
        if radius < 1.5:
            continue
        x0, y0 = np.floor(centre - radius).astype(int)
        x1, y1 = np.ceil(centre + radius).astype(int) + 1
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 <= x0 or y1 <= y0:
            continue
        ys, xs = np.mgrid[y0:y1, x0:x1]
        distance = np.hypot(xs - centre[0], ys - centre[1]) / radius
        ring = (distance > PUPIL_SHARE + 0.1) & (distance < 0.9)
        samples.append(pixels[y0:y1, x0:x1][ring])
    if not samples or sum(len(s) for s in samples) < 8:
        return DEFAULT_IRIS
    colour = np.median(np.concatenate(samples), axis=0)
    return tuple(int(c) for c in colour)
