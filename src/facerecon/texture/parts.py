"""The parts' texture: eyes with the photo's iris colour and size, teeth in the photo's colour where its
mouth shows them, gums and tongue, and a dark mouth socket.

Colours are painted per vertex (the iris by its angle from the eyeball's axis, so no lids or lashes are
baked in) and rasterised into the parts' UV layout (one cell per material, see tools/build_face_model.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.sparse import csr_matrix

from facerecon.detect.mediapipe_faces import INNER_LIPS
from facerecon.fit.gaze import IRIS_CENTRES
from facerecon.model.face_model import PartsModel
from facerecon.render.rasterize import rasterize
from facerecon.texture.bake import nearest_texel

PARTS_TEXTURE_SIZE = 512
SCLERA = (226, 220, 212)
PUPIL = (12, 10, 10)
DEFAULT_IRIS = (92, 64, 44)  # brown, where the photo shows no iris
COLOURS = {"mouth_socket": (70, 28, 32), "gums_tongue": (170, 80, 88), "teeth": (228, 220, 200)}
# Angles from the eyeball's axis, seen from its centre: the iris within 29°, the pupil within 11°, the iris
# darkening towards its rim (the limbal ring) beyond 24° (chosen by eye on renders of ICT's ~15 mm eyeball).
IRIS_ANGLE, PUPIL_ANGLE, LIMBUS_ANGLE = 29.0, 11.0, 24.0
IRIS_ANGLES = (24.0, 34.0)  # the range a photo's iris size may set (human irises: 10.2-13.0 mm across)
# A photo's iris size is read against its eye's width, corner to corner (MediaPipe's points): the median of
# iris radius / eye width over 218 eyes of HELEN train photos (quartiles 0.203, 0.235) is the default iris.
TYPICAL_IRIS_SHARE = 0.216
EYE_CORNERS = {473: (362, 263), 468: (33, 133)}  # iris centre: its eye's corners
PUPIL_SHARE = 0.38  # pupil radius / iris radius in the photo, skipped when the iris colour is sampled
# Teeth-like pixels (bright, nearly grey) inside the photo's inner lip line before their colour is used:
# at least this many, and this share of the pixels there (lips and skin caught at the line's edge are not).
MIN_TEETH_PIXELS, TEETH_SHARE = 30, 0.15


@dataclass(frozen=True)
class PhotoLook:
    """What the photo says about the parts: the iris's colour and size, the teeth's colour."""

    iris: tuple[int, int, int] = DEFAULT_IRIS
    iris_angle: float = IRIS_ANGLE  # degrees of the eyeball the iris covers, seen from its centre
    teeth: tuple[int, int, int] = COLOURS["teeth"]


class PartsTexturer:
    """Rasterises the parts' UV layout once; paints a texture per fitted face."""

    def __init__(self, parts: PartsModel, size: int = PARTS_TEXTURE_SIZE):
        self.parts, self.size = parts, size
        uv_screen = np.column_stack([parts.uv[:, 0] * size - 0.5, (1 - parts.uv[:, 1]) * size - 0.5,
                                     np.ones(len(parts.uv))])  # fmt: skip
        frags = rasterize(uv_screen, parts.face_uv, size, size)
        self.mask = frags.mask
        self.nearest_texel = nearest_texel(frags.mask)
        tri, bary = frags.tri[frags.mask], frags.bary[frags.mask]
        rows = np.arange(0, 3 * len(tri) + 1, 3)
        self.weights = csr_matrix((bary.ravel(), parts.faces[tri].ravel(), rows), shape=(len(tri), len(parts.mean)))

    def colours(self, vertices: np.ndarray, look: PhotoLook = PhotoLook()) -> np.ndarray:
        """(P, 3) uint8 colour of each part vertex at its fitted position `vertices` (P, 3), model space."""
        parts = self.parts
        colours = np.zeros((len(vertices), 3), dtype=np.float32)
        for name, colour in (COLOURS | {"teeth": look.teeth}).items():
            colours[parts.vertices_of(name)] = colour
        scale = look.iris_angle / IRIS_ANGLE  # pupil and limbal ring scale with the iris
        for eye in ("eye_left", "eye_right"):
            ids = parts.vertices_of(eye)
            centre, axis, _ = parts.eye_frame(vertices, eye)
            offsets = vertices[ids] - centre
            angle = np.degrees(np.arccos(np.clip(offsets @ axis / np.linalg.norm(offsets, axis=1), -1, 1))) / scale
            rim = np.clip((angle - LIMBUS_ANGLE) / (IRIS_ANGLE - LIMBUS_ANGLE), 0, 1)[:, None]
            ring = np.asarray(look.iris, dtype=np.float32) * (1 - 0.6 * rim)
            iris_or_sclera = np.where((angle < IRIS_ANGLE)[:, None], ring, SCLERA)
            colours[ids] = np.where((angle < PUPIL_ANGLE)[:, None], PUPIL, iris_or_sclera)
        return np.clip(colours + 0.5, 0, 255).astype(np.uint8)

    def paint(self, colours: np.ndarray) -> np.ndarray:
        """(S, S, 3) uint8 texture of per-vertex colours (P, 3) in the parts' UV layout, each gap texel taking its
        nearest island texel's colour."""
        texels = np.clip(self.weights @ colours.astype(np.float32) + 0.5, 0, 255).astype(np.uint8)
        return texels[self.nearest_texel].reshape(self.size, self.size, 3)


def photo_look(pixels: np.ndarray, landmarks: np.ndarray | None) -> PhotoLook:
    """The parts' look in this photo: the irises' colour and size (MediaPipe's points 468-477; the size
    against the eyes' widths) and the teeth's colour inside MediaPipe's inner lip line; the defaults where
    the photo does not show them."""
    if landmarks is None or len(landmarks) < 478:
        return PhotoLook()
    colour, radius = iris_sample(pixels, landmarks)
    shares = [radius[c] / max(float(np.linalg.norm(landmarks[a, :2] - landmarks[b, :2])), 1e-6)
              for c, (a, b) in EYE_CORNERS.items() if radius[c] is not None]  # fmt: skip
    angle = IRIS_ANGLE
    if shares:
        sine = np.sin(np.radians(IRIS_ANGLE)) * float(np.mean(shares)) / TYPICAL_IRIS_SHARE
        angle = float(np.clip(np.degrees(np.arcsin(min(sine, 1.0))), *IRIS_ANGLES))
    teeth = teeth_colour(pixels, landmarks[INNER_LIPS, :2])
    return PhotoLook(colour or DEFAULT_IRIS, angle, teeth or COLOURS["teeth"])


def iris_sample(pixels: np.ndarray, landmarks: np.ndarray) -> tuple[tuple[int, int, int] | None, dict]:
    """The median colour of the photo's irises between pupil and rim (None where too few pixels show), and
    each iris's radius in pixels ({centre id: radius or None where too small to read})."""
    h, w = pixels.shape[:2]
    samples, radii = [], {}
    for centre_id in IRIS_CENTRES.values():
        centre = landmarks[centre_id, :2]
        radius = float(np.linalg.norm(landmarks[centre_id + 1 : centre_id + 5, :2] - centre, axis=1).mean())
        radii[centre_id] = radius if radius >= 1.5 else None
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
        return None, radii
    return tuple(int(c) for c in np.median(np.concatenate(samples), axis=0)), radii


def teeth_colour(pixels: np.ndarray, inner_lips: np.ndarray) -> tuple[int, int, int] | None:
    """The median of the teeth-like pixels (bright, nearly grey) inside the photo's inner lip line (M, 2),
    or None where the mouth shows too few of them (closed, or no teeth in view)."""
    h, w = pixels.shape[:2]
    x0, y0 = np.maximum(np.floor(inner_lips.min(axis=0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(inner_lips.max(axis=0)).astype(int) + 1, [w, h])
    if x1 <= x0 or y1 <= y0:
        return None
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [np.rint(inner_lips - [x0, y0]).astype(np.int32)], 1)
    inside = pixels[y0:y1, x0:x1][mask.astype(bool)].astype(np.int32)
    teeth = inside[(inside.min(axis=1) > 120) & (np.ptp(inside, axis=1) < 40)]
    if len(teeth) < max(MIN_TEETH_PIXELS, TEETH_SHARE * len(inside)):
        return None
    return tuple(int(c) for c in np.median(teeth, axis=0))
