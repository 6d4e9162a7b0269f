"""Binary little-endian PLY with per-vertex colours sampled from the UV texture (model space, cm)."""

from __future__ import annotations

import numpy as np

from facerecon.reconstruction import Reconstruction


def vertex_colors(recon: Reconstruction) -> np.ndarray:
    """(V, 3) uint8: the texture at each vertex's UV (the first corner that uses the vertex)."""
    first_corner = np.full(len(recon.vertices), -1)
    flat_vertices, flat_uv = recon.faces.reshape(-1), recon.face_uv.reshape(-1)
    first_corner[flat_vertices[::-1]] = flat_uv[::-1]  # reversed so the first occurrence wins
    uv = recon.uv[np.maximum(first_corner, 0)]
    size = recon.texture.shape[0]
    x = np.clip(np.rint(uv[:, 0] * size - 0.5), 0, size - 1).astype(int)
    y = np.clip(np.rint((1 - uv[:, 1]) * size - 0.5), 0, size - 1).astype(int)
    return recon.texture[y, x]


def export_ply(recon: Reconstruction) -> bytes:
    n, f = len(recon.vertices), len(recon.faces)
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment facerecon face mesh, units: centimetres\n"
        f"element vertex {n}\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        f"element face {f}\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode()
    vertex = np.zeros(n, dtype=[("xyz", "<f4", 3), ("rgb", "u1", 3)])
    vertex["xyz"] = recon.vertices
    vertex["rgb"] = vertex_colors(recon)
    face = np.zeros(f, dtype=[("count", "u1"), ("idx", "<i4", 3)])
    face["count"] = 3
    face["idx"] = recon.faces
    return header + vertex.tobytes() + face.tobytes()
