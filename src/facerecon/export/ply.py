"""Binary little-endian PLY with per-vertex colours sampled from the UV textures (model space, cm): the skin,
then the eyes and the inside of the mouth."""

from __future__ import annotations

import numpy as np

from facerecon.reconstruction import Reconstruction, TexturedMesh, stacked_indices


def vertex_colors(mesh: TexturedMesh) -> np.ndarray:
    """(V, 3) uint8: the texture at each vertex's UV (the first corner that uses the vertex)."""
    first_corner = np.full(len(mesh.vertices), -1)
    flat_vertices, flat_uv = mesh.faces.reshape(-1), mesh.face_uv.reshape(-1)
    first_corner[flat_vertices[::-1]] = flat_uv[::-1]  # reversed so the first occurrence wins
    uv = mesh.uv[np.maximum(first_corner, 0)]
    size = mesh.texture.shape[0]
    x = np.clip(np.rint(uv[:, 0] * size - 0.5), 0, size - 1).astype(int)
    y = np.clip(np.rint((1 - uv[:, 1]) * size - 0.5), 0, size - 1).astype(int)
    return mesh.texture[y, x]


def export_ply(recon: Reconstruction) -> bytes:
    meshes = recon.meshes
    vertices = np.concatenate([m.vertices for m in meshes])
    faces = stacked_indices([m.faces for m in meshes], [len(m.vertices) for m in meshes])
    n, f = len(vertices), len(faces)
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment facerecon face mesh, units: centimetres\n"
        f"element vertex {n}\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        f"element face {f}\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode()
    vertex = np.zeros(n, dtype=[("xyz", "<f4", 3), ("rgb", "u1", 3)])
    vertex["xyz"] = vertices
    vertex["rgb"] = np.concatenate([vertex_colors(m) for m in meshes])
    face = np.zeros(f, dtype=[("count", "u1"), ("idx", "<i4", 3)])
    face["count"] = 3
    face["idx"] = faces
    return header + vertex.tobytes() + face.tobytes()
