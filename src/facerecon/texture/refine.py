"""Per-vertex albedo refined by the shipped GCN: the coarse fitted albedo plus the detail the photo shows."""

from __future__ import annotations

import numpy as np
import torch

from facerecon.model.face_model import FaceModel
from facerecon.model.surface import vertex_normals
from facerecon.nets.gcn import TextureGCN, gcn_features
from facerecon.parameters import Appearance
from facerecon.render.shade import sh_shade
from facerecon.scene import FaceScene
from facerecon.texture.vertex_colors import sample_vertex_colors


def vertex_shading(model: FaceModel, camera_vertices: torch.Tensor, lighting: torch.Tensor) -> torch.Tensor:
    """SH irradiance (V, 3) at each vertex of the posed mesh (camera space)."""
    normals = vertex_normals(camera_vertices, torch.from_numpy(model.faces))
    return sh_shade(torch.ones_like(camera_vertices), normals, lighting)


def refine_albedo(gcn: TextureGCN, pixels: np.ndarray, scene: FaceScene, appearance: Appearance) -> np.ndarray:
    """(V, 3) albedo in [0, 1]: the GCN's (load_gcn) refinement over the face region, the coarse albedo elsewhere."""
    model = scene.model
    colors, shown = sample_vertex_colors(pixels, scene)
    n = model.n_face_vertices
    with torch.no_grad():
        lighting = torch.from_numpy(appearance.lighting).float()
        shading = sh_shade(torch.ones(len(colors), 3), torch.from_numpy(scene.normals).float(), lighting)
        coarse = torch.from_numpy(appearance.albedo).float()
        features = gcn_features(torch.from_numpy(colors[:n])[None], torch.from_numpy(shown[:n])[None],
                                shading[None, :n], coarse[None, :n], torch.from_numpy(model.mirror[:n]))  # fmt: skip
        correction = gcn(features)[0]
    refined = appearance.albedo.copy()
    refined[:n] = np.clip(appearance.albedo[:n] + correction.numpy(), 0.0, 1.0)
    return refined
