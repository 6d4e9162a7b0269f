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
from functools import cached_property, lru_cache
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
        f32 = lambda k: torch.from_numpy(np.asarray(data[k], dtype=np.float32))  # noqa: E731
        super().__init__(f32("parts_mean"), f32("parts_identity_basis"), f32("parts_expression_basis"))
        self.faces = np.asarray(data["parts_faces"], dtype=np.int64)
        self.uv = np.asarray(data["parts_uv"], dtype=np.float32)
        self.face_uv = np.asarray(data["parts_face_uv"], dtype=np.int64)
        self.triangle_part = np.asarray(data["parts_triangle_part"], dtype=np.int64)
        self.names: list[str] = [str(n) for n in data["part_names"]]

    def vertices_of(self, name: str) -> np.ndarray:
        """Ids of the vertices of one part."""
        return np.unique(self.faces[self.triangle_part == self.names.index(name)])


class FaceModel(LinearShapeModel):
    """The full-mesh model plus its topology, UVs and landmark embeddings."""

    def __init__(self, data: dict[str, np.ndarray]):
        f32 = lambda k: torch.from_numpy(np.asarray(data[k], dtype=np.float32))  # noqa: E731
        super().__init__(f32("mean"), f32("identity_basis"), f32("expression_basis"))
        self.faces = np.asarray(data["faces"], dtype=np.int64)
        self.uv = np.asarray(data["uv"], dtype=np.float32)
        self.face_uv = np.asarray(data["face_uv"], dtype=np.int64)
        self.expression_names: list[str] = [str(n) for n in data["expression_names"]]
        self.landmarks68 = SurfaceEmbedding(data["lm68_tri"], data["lm68_bary"])
        self.mediapipe = SurfaceEmbedding(data["mp_tri"], data["mp_bary"])
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


def load_face_model(path: str | Path | None = None) -> FaceModel:
    """Load the shipped model (or another asset); a missing or corrupt asset raises ModelAssetError."""
    return _load_cached(str(Path(path) if path is not None else DEFAULT_ASSET))


@lru_cache(maxsize=2)
def _load_cached(path: str) -> FaceModel:
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
        return FaceModel(data)
    except FileNotFoundError:
        hint = "rebuild it with tools/build_face_model.py"
        raise ModelAssetError(f"face model asset not found: {path} ({hint})") from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelAssetError(f"face model asset is corrupt: {path} ({exc.__class__.__name__})") from None
