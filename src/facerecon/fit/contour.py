"""Contour landmarks that slide to the silhouette ("landmark marching", as in 3DDFA / 300W-LP).

The jaw line of the 68 iBUG points and MediaPipe's face oval mark the visible outline of the face, not
fixed skin points: when the head turns, the outline on the far side moves inwards over the cheek. Each
contour point therefore gets a horizontal line of candidate surface points on the model, from its rest
position inwards to the middle of the face, and at a given pose it sits on the candidate that lies furthest out in
the image along the head's own left-right axis: the silhouette on the far side; on the near side (and
for a frontal face) that is the rest position itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facerecon.model.face_model import FaceModel, SurfaceEmbedding
from facerecon.model.surface import surface_points

# MediaPipe's face oval (FACEMESH_FACE_OVAL) without its two midline points, 10 (forehead) and 152 (chin).
MEDIAPIPE_OVAL = (109, 67, 103, 54, 21, 162, 127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148,
                  377, 400, 378, 379, 365, 397, 288, 361, 323, 454, 356, 389, 251, 284, 332, 297, 338)  # fmt: skip
IBUG_JAW = (*range(8), *range(9, 17))  # the 68's jaw line without the chin (8)
DEPTH_REACH = 0.5  # cm: candidates lie no further back than this behind the rest position
MIN_REACH = 0.5  # cm from the midline: candidates stop short of it
# cm: a point leaves its rest position only for a candidate this much further out. Under perspective the
# outline of a frontal face lies ~1-2 mm outside the jaw points calibrated on frontal photos; those stay.
MARGIN = 0.25


@dataclass(frozen=True)
class Contour:
    """Contour points of an embedding and the surface points each may slide to."""

    points: np.ndarray  # (C,) indices into the embedding's points
    candidates: SurfaceEmbedding  # (M,) every candidate, as points on the surface
    lines: np.ndarray  # (C, K) each contour point's candidates, indices into `candidates`; -1 = padding
    side: np.ndarray  # (C,) +1 on the subject's left (+X), -1 on the right

    @classmethod
    def build(cls, model: FaceModel, embedding: SurfaceEmbedding, points: tuple[int, ...]) -> Contour:
        """Each contour point's line: where the face region's triangle edges cross the horizontal plane
        through its rest position on the mean face, from there inwards."""
        mean = model.mean.numpy().astype(np.float64)
        faces = model.faces[: model.n_face_triangles]
        rest = surface_points(mean, model.faces, embedding.tri[list(points)], embedding.bary[list(points)])
        side = np.sign(rest[:, 0])
        # The triangle edges as (corner slots, start, direction), shared by every contour point's search.
        edges = [(i, j, mean[faces[:, i]], mean[faces[:, j]] - mean[faces[:, i]]) for i, j in ((0, 1), (1, 2), (2, 0))]
        tri, bary, lines = [], [], []
        for p, s in zip(rest, side, strict=True):
            found = []
            for i, j, a, along in edges:
                with np.errstate(divide="ignore", invalid="ignore"):
                    t = (p[1] - a[:, 1]) / along[:, 1]
                crossing = np.flatnonzero((t >= 0) & (t < 1))
                x = a[crossing] + t[crossing, None] * along[crossing]
                keep = (s * x[:, 0] <= s * p[0]) & (s * x[:, 0] > MIN_REACH) & (x[:, 2] > p[2] - DEPTH_REACH)
                weights = np.zeros((keep.sum(), 3))
                weights[:, i], weights[:, j] = 1 - t[crossing[keep]], t[crossing[keep]]
                found.append((crossing[keep], weights))
            ids = np.concatenate([f[0] for f in found])
            lines.append(np.arange(len(ids)) + sum(len(t) for t in tri))
            tri.append(ids)
            bary.append(np.concatenate([f[1] for f in found]))
        padded = np.full((len(lines), max(map(len, lines))), -1)
        for k, line in enumerate(lines):
            padded[k, : len(line)] = line
        return cls(np.asarray(points), SurfaceEmbedding(np.concatenate(tri), np.concatenate(bary)), padded, side)

    def slide(
        self, rest_xy: np.ndarray, candidate_xy: np.ndarray, rotation: np.ndarray, pixels_per_cm: float
    ) -> np.ndarray:
        """The candidate each contour point sits on at this pose, or -1 where it stays at its rest position.

        rest_xy: (C, 2) the contour points' rest positions in the image; candidate_xy: (M, 2) the candidates
        in the image (pixels, y down); rotation: (3, 3) model -> camera; pixels_per_cm: the face's scale.
        """
        lateral = np.array([rotation[0, 0], -rotation[1, 0]])  # the model's +X axis in the image
        lateral /= max(float(np.linalg.norm(lateral)), 1e-9)
        valid = self.lines >= 0
        score = (candidate_xy[np.where(valid, self.lines, 0)] @ lateral) * self.side[:, None]
        score[~valid] = -np.inf
        rows = np.arange(len(score))
        best = score.argmax(axis=1)
        further = score[rows, best] - (rest_xy @ lateral) * self.side
        return np.where(further > MARGIN * pixels_per_cm, self.lines[rows, best], -1)
