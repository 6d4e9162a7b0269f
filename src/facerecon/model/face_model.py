"""The facerecon 3D morphable face model (built from ICT-FaceKit Light by tools/build_face_model.py).

Convention: model space is right-handed, in **centimetres**, +X = the subject's left, +Y = up, +Z = out of
the face (a frontal face looks down +Z), origin at ICT-FaceKit's, inside the head. The surface is the face
plus head and neck (11,248 vertices), counter-clockwise triangles facing outwards.

vertices = mean + identity @ identity_basis + expression @ expression_basis, where identity coefficients
are in standard deviations (a standard normal prior) and expression weights are ARKit blendshape weights
in [0, 1].
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch import nn

from facerecon.errors import ModelAssetError

DEFAULT_ASSET = Path(__file__).parent / "data" / "face_model.npz"


def blend_shapes(
    mean: torch.Tensor,
    identity_basis: torch.Tensor,
    expression_basis: torch.Tensor,
    identity: torch.Tensor,
    expression: torch.Tensor,
) -> torch.Tensor:
    """Linear blend: mean (V, 3) + identity (B, K) @ basis (K, V, 3) + expression (B, E) @ basis (E, V, 3).

    Returns (B, V, 3) in the units of the bases.
    """
    offsets = identity @ identity_basis.flatten(1) + expression @ expression_basis.flatten(1)
    return mean.unsqueeze(0) + offsets.view(-1, *mean.shape)


class LinearShapeModel(nn.Module):
    """A linear shape model over some set of points: the whole mesh, or points embedded on it."""

    def __init__(self, mean: torch.Tensor, identity_basis: torch.Tensor, expression_basis: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("identity_basis", identity_basis)
        self.register_buffer("expression_basis", expression_basis)

    @property
    def n_identity(self) -> int:
        return self.identity_basis.shape[0]

    @property
    def n_expression(self) -> int:
        return self.expression_basis.shape[0]

    def forward(self, identity: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
        """identity (B, K), expression (B, E) -> points (B, N, 3), cm."""
        return blend_shapes(self.mean, self.identity_basis, self.expression_basis, identity, expression)

    def rows(self, index: torch.Tensor) -> LinearShapeModel:
        """The linear model of the points `index` (N,) alone (index_select: twice as fast as indexing)."""
        return LinearShapeModel(self.mean.index_select(0, index), self.identity_basis.index_select(1, index),
                                self.expression_basis.index_select(1, index))  # fmt: skip


@dataclass(frozen=True)
class SurfaceEmbedding:
    """Points fixed on the surface: triangle ids (N,) and barycentric weights (N, 3)."""

    tri: np.ndarray
    bary: np.ndarray


class PartsModel(LinearShapeModel):
    """The eyeballs and the inside of the mouth: a mesh beside the skin, moved by the same identity and
    expression coefficients. Triangles come grouped by part (`triangle_part` indexes `names`); UVs point into
    one parts texture."""

    def __init__(self, data: dict[str, np.ndarray]):
        super().__init__(*_bases(data, "parts_"))
        self.faces, self.uv, self.face_uv = _topology(data, "parts_")
        self.triangle_part = np.asarray(data["parts_triangle_part"], dtype=np.int64)
        self.names: list[str] = [str(n) for n in data["part_names"]]
        self._vertices = {name: np.unique(self.faces[self.triangle_part == i]) for i, name in enumerate(self.names)}

    def vertices_of(self, name: str) -> np.ndarray:
        """Ids of the vertices of one part."""
        return self._vertices[name]

    def eye_frame(self, vertices: np.ndarray, eye: str) -> tuple[np.ndarray, np.ndarray, float]:
        """Centre (3,), unit axis (3,) and radius of an eyeball ("eye_left" or "eye_right") at these part
        vertices (P, 3): the sphere through its vertices, and the direction to its cornea, the bulge that
        stands out of that sphere at the front."""
        points = vertices[self.vertices_of(eye)]
        # A sphere through the points: |p|² = 2 c.p + k is linear in the centre c and k.
        design = np.column_stack([2 * points, np.ones(len(points))])
        solution = np.linalg.lstsq(design, (points**2).sum(axis=1), rcond=None)[0]
        centre = solution[:3]
        radius = float(np.sqrt(solution[3] + centre @ centre))
        offsets = points - centre
        front = offsets[offsets[:, 2] > 0]  # model +Z is out of the face
        distance = np.linalg.norm(front, axis=1)
        cornea = front[distance > np.percentile(distance, 95)]
        axis = cornea.mean(axis=0)
        return centre, axis / np.linalg.norm(axis), radius


class FaceModel(LinearShapeModel):
    """The full-mesh model plus its topology, UVs and landmark embeddings."""

    def __init__(self, data: dict[str, np.ndarray]):
        super().__init__(*_bases(data, ""))
        self.faces, self.uv, self.face_uv = _topology(data, "")
        self.expression_names: list[str] = [str(n) for n in data["expression_names"]]
        self.landmarks68 = SurfaceEmbedding(data["lm68_tri"], data["lm68_bary"])
        # MediaPipe's canonical mesh registered on ours (the regressor's points and anchor, the wireframe), and
        # where FaceMesh's points land on faces of known shape (tools/calibrate_mediapipe.py): the fit's points.
        self.mediapipe = SurfaceEmbedding(data["mp_tri"], data["mp_bary"])
        self.mediapipe_calibrated = (
            SurfaceEmbedding(data["mpcal_tri"], data["mpcal_bary"]) if "mpcal_tri" in data else self.mediapipe
        )
        # AFLW's 21 points as its annotators placed them (tools/calibrate_aflw21.py); for benchmarks/aflw21.py.
        self.aflw21 = SurfaceEmbedding(data["aflw21_tri"], data["aflw21_bary"])
        self.mediapipe_faces = np.asarray(data["mp_faces"], dtype=np.int64)
        self.mirror = np.asarray(data["mirror"], dtype=np.int64)
        self.n_face_vertices = int(data["n_face_vertices"])
        # The face region's triangles come first in the mesh (the build keeps ICT's order).
        self.n_face_triangles = int((self.faces < self.n_face_vertices).all(axis=1).sum())
        self.albedo_basis = torch.from_numpy(np.asarray(data["albedo_basis"], dtype=np.float32))  # (K, V)
        self.albedo_eigenvalues = torch.from_numpy(np.asarray(data["albedo_eigenvalues"], dtype=np.float32))
        # Eyes and the inside of the mouth (assets built before they existed have none).
        self.parts = PartsModel(data) if "parts_mean" in data else None

    @property
    def n_vertices(self) -> int:
        return self.mean.shape[0]

    @cached_property
    def landmarks68_model(self) -> LinearShapeModel:
        """The linear model of just the 68 landmarks (cheap to evaluate per video frame)."""
        return self.embedded(self.landmarks68)

    def embedded(self, embedding: SurfaceEmbedding) -> LinearShapeModel:
        """The linear model of embedded points: each basis is combined with the points' barycentric weights."""
        corners = torch.from_numpy(self.faces[embedding.tri])  # (N, 3)
        weights = torch.from_numpy(np.asarray(embedding.bary, dtype=np.float32))

        def combine(basis: torch.Tensor) -> torch.Tensor:  # (..., V, 3) -> (..., N, 3)
            return (basis[..., corners, :] * weights[..., None]).sum(-2)

        return LinearShapeModel(combine(self.mean), combine(self.identity_basis), combine(self.expression_basis))


def _bases(data: dict[str, np.ndarray], prefix: str) -> list[torch.Tensor]:
    """The asset's mean, identity and expression bases (float32 tensors) of the mesh named by `prefix`."""
    keys = ("mean", "identity_basis", "expression_basis")
    return [torch.from_numpy(np.asarray(data[prefix + k], dtype=np.float32)) for k in keys]


def _topology(data: dict[str, np.ndarray], prefix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The asset's triangles (F, 3), UVs (T, 2) and UV triangles (F, 3) of the mesh named by `prefix`."""
    return (np.asarray(data[prefix + "faces"], dtype=np.int64), np.asarray(data[prefix + "uv"], dtype=np.float32),
            np.asarray(data[prefix + "face_uv"], dtype=np.int64))  # fmt: skip


def load_face_model(path: str | Path | None = None) -> FaceModel:
    """Load the shipped model (or another asset); a missing or corrupt asset raises ModelAssetError."""
    path = Path(path) if path is not None else DEFAULT_ASSET
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
        return FaceModel(data)
    except FileNotFoundError:
        hint = "rebuild it with tools/build_face_model.py"
        raise ModelAssetError(f"face model asset not found: {path} ({hint})") from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelAssetError(f"face model asset is corrupt: {path} ({exc.__class__.__name__})") from None
