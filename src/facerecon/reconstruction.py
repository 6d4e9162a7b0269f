"""The result of reconstructing one face; every exporter reads this and nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from facerecon.model.surface import compacted

# The parts' materials: which parts each holds.
PART_MATERIALS = {"eyes": ("eye_left", "eye_right"), "mouth": ("mouth_socket", "gums_tongue", "teeth")}


@dataclass(frozen=True)
class TexturedMesh:
    name: str  # its material: face, eyes or mouth
    vertices: np.ndarray  # (V, 3) float32, cm, model space
    faces: np.ndarray  # (F, 3) int64
    uv: np.ndarray  # (T, 2) float32
    face_uv: np.ndarray  # (F, 3) int64
    texture: np.ndarray  # (S, S, 3) uint8
    expression_basis: np.ndarray | None  # (E, V, 3) cm


def stacked_indices(indices: list[np.ndarray], sizes: list[int]) -> np.ndarray:
    """Index arrays into consecutive blocks of `sizes` items (the meshes' vertices or UVs), concatenated
    with each shifted past the blocks before it: the indices of the merged mesh."""
    offsets = np.cumsum([0, *sizes[:-1]])
    return np.concatenate([index + offset for index, offset in zip(indices, offsets, strict=True)])


@dataclass
class Parts:
    """The eyeballs and the inside of the mouth, beside the skin: same pose, identity and expression, in
    the same model space; one texture for all of them."""

    names: list[str]  # eye_left, eye_right, mouth_socket, gums_tongue, teeth
    vertices: np.ndarray  # (P, 3) float32, cm
    faces: np.ndarray  # (G, 3) int64, grouped by part
    triangle_part: np.ndarray  # (G,) index into names
    uv: np.ndarray  # (T, 2) float32
    face_uv: np.ndarray  # (G, 3) int64
    texture: np.ndarray  # (S, S, 3) uint8
    vertex_colors: np.ndarray  # (P, 3) uint8, what the texture was painted from
    expression_basis: np.ndarray = field(repr=False)  # (E, P, 3) cm, in the order of Reconstruction.expression
    # Per eye: (yaw, pitch) degrees of its turn from rest in the head's frame, as the eyeLook weights say.
    gaze: dict[str, tuple[float, float]] = field(default_factory=dict)

    def mesh(self, name: str, members: tuple[str, ...]) -> TexturedMesh:
        """The triangles of these parts as a mesh of their own (only the vertices they use). np.take gathers
        the expression deltas into a contiguous array (the GLB reads them row by row), ~6x faster than
        indexing them and copying."""
        chosen = np.isin(self.triangle_part, [self.names.index(m) for m in members])
        used, faces = compacted(self.faces[chosen], len(self.vertices))
        used_uv, face_uv = compacted(self.face_uv[chosen], len(self.uv))
        return TexturedMesh(name, self.vertices[used], faces.reshape(-1, 3), self.uv[used_uv], face_uv.reshape(-1, 3),
                            self.texture, np.take(self.expression_basis, used, axis=1))  # fmt: skip


@dataclass
class Reconstruction:
    """One reconstructed face.

    Geometry is in model space (see facerecon.model.face_model): centimetres, +Y up, +Z out of the face,
    identity and expression applied, head pose not applied. `pose` maps it into the camera of
    facerecon.camera: camera_point = pose["rotation"] @ vertex + pose["translation"].
    """

    vertices: np.ndarray  # (V, 3) float32, cm
    faces: np.ndarray  # (F, 3) int64, counter-clockwise seen from outside
    uv: np.ndarray  # (T, 2) float32 texture coordinates, (0, 0) = bottom-left
    face_uv: np.ndarray  # (F, 3) int64 indices into uv
    texture: np.ndarray  # (S, S, 3) uint8 RGB
    landmarks68: np.ndarray  # (68, 2) image pixels, 0-based, projected from the fitted mesh
    landmarks478: np.ndarray | None  # (478, 3) MediaPipe's points: x, y pixels, z relative depth; None: not found
    pose: dict  # yaw, pitch, roll (degrees), rotation (3x3), translation (3,) cm
    identity: np.ndarray  # (K,) in standard deviations
    expression: dict[str, float]  # ARKit name -> weight in [0, 1]
    camera: dict  # focal (px), cx, cy, width, height, focal_source
    bbox: np.ndarray  # (4,) [x0, y0, x1, y1] of the face in the photo
    fit_stats: dict = field(default_factory=dict)
    source: str = "<array>"
    overlay: np.ndarray | None = field(default=None, repr=False)  # photo with wireframe and landmarks
    # The model's expression deltas (E, V, 3) cm, in the order of `expression`, for animatable exports.
    expression_basis: np.ndarray | None = field(default=None, repr=False)
    # From the photometric stage (None when it was skipped):
    lighting: np.ndarray | None = None  # (9, 3) SH irradiance coefficients, camera space (render.shade)
    vertex_albedo: np.ndarray | None = field(default=None, repr=False)  # (V, 3) low-frequency albedo, [0, 1]
    albedo_texture: np.ndarray | None = field(default=None, repr=False)  # (S, S, 3) uint8 de-lit albedo
    render: np.ndarray | None = field(default=None, repr=False)  # (H, W, 4) uint8 albedo x lighting, alpha
    parts: Parts | None = field(default=None, repr=False)  # eyes and mouth; None with a model that has none

    @cached_property
    def meshes(self) -> list[TexturedMesh]:
        """What the exporters write: the skin ("face"), then, where the model has them, the eyes ("eyes") and
        the inside of the mouth ("mouth"), each a mesh of its own with its texture and expression deltas.
        Built once per Reconstruction (a copy made with dataclasses.replace builds its own)."""
        skin = TexturedMesh("face", self.vertices, self.faces, self.uv, self.face_uv, self.texture,
                            self.expression_basis)  # fmt: skip
        if self.parts is None:
            return [skin]
        return [skin, *(self.parts.mesh(name, members) for name, members in PART_MATERIALS.items())]

    def posed_vertices(self) -> np.ndarray:
        """Vertices in camera space (cm): the head where it was in the photo."""
        return self.vertices @ np.asarray(self.pose["rotation"]).T + np.asarray(self.pose["translation"])

    def save(
        self,
        outdir: str | Path,
        stem: str,
        *,
        formats: tuple[str, ...] | None = None,
        turntable: bool = False,
        glb_texture: str = "jpeg",
    ) -> list[Path]:
        """Write the mesh formats (default obj + mtl, glb, json; ply on request) and the pictures
        (_texture, _overlay, and after the photometric stage _albedo and _render .png; _turntable.gif on
        request) atomically; returns their paths. glb_texture="png" embeds the skin's texture in the GLB
        losslessly (default JPEG)."""
        from facerecon.export.files import save_reconstruction
        from facerecon.export.formats import DEFAULT_FORMATS

        return save_reconstruction(self, Path(outdir), stem, formats=formats or DEFAULT_FORMATS, turntable=turntable,
                                   glb_texture=glb_texture)  # fmt: skip
