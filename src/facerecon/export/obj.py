"""Wavefront OBJ + MTL: positions in model space (cm, +Y up, +Z out of the face), a UV-mapped material per
mesh: the skin ("face"), and where the model has them the eyes and the inside of the mouth."""

from __future__ import annotations

import numpy as np

from facerecon.reconstruction import Reconstruction


def export_obj(recon: Reconstruction, mtl_name: str) -> str:
    lines = [
        "# facerecon face mesh; units: centimetres; axes: +X subject's left, +Y up, +Z out of the face\n",
        f"mtllib {mtl_name}\n",
    ]
    vertex_offset = uv_offset = 0
    for mesh in recon.meshes:
        corners = np.stack([mesh.faces + 1 + vertex_offset, mesh.face_uv + 1 + uv_offset], axis=-1)
        lines += [
            f"o {mesh.name}\n",
            _rows("v %.5f %.5f %.5f\n", mesh.vertices),
            _rows("vt %.6f %.6f\n", mesh.uv),
            f"usemtl {mesh.name}\n",
            _rows("f %d/%d %d/%d %d/%d\n", corners.reshape(len(mesh.faces), 6)),
        ]
        vertex_offset += len(mesh.vertices)
        uv_offset += len(mesh.uv)
    return "".join(lines)


def _rows(line: str, values: np.ndarray) -> str:
    """One formatted line per row; one % over the whole array is ~4x faster than np.savetxt."""
    return (line * len(values)) % tuple(np.asarray(values).ravel().tolist())


def export_mtl(textures: dict[str, str]) -> str:
    """One material per mesh name, with its texture file."""
    return "".join(
        f"newmtl {name}\nKa 1.000 1.000 1.000\nKd 1.000 1.000 1.000\nKs 0.000 0.000 0.000\nd 1.0\nillum 1\n"
        f"map_Kd {texture}\n\n"
        for name, texture in textures.items()
    )
