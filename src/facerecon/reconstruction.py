"""The result of reconstructing one face; every exporter reads this and nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


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

    def posed_vertices(self) -> np.ndarray:
        """Vertices in camera space (cm): the head where it was in the photo."""
        return self.vertices @ np.asarray(self.pose["rotation"]).T + np.asarray(self.pose["translation"])

    def save(
        self, outdir: str | Path, stem: str, *, formats: tuple[str, ...] | None = None, turntable: bool = False
    ) -> list[Path]:
        """Write the mesh formats (default obj + mtl, glb, json; ply on request) and the pictures
        (_texture, _overlay, and after the photometric stage _albedo and _render .png; _turntable.gif on
        request) atomically; returns their paths."""
        from facerecon.export.files import save_reconstruction
        from facerecon.export.formats import DEFAULT_FORMATS

        return save_reconstruction(self, Path(outdir), stem, formats=formats or DEFAULT_FORMATS, turntable=turntable)
