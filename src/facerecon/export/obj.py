"""Wavefront OBJ + MTL: positions in model space (cm, +Y up, +Z out of the face), one UV-mapped material."""

from __future__ import annotations

import numpy as np

from facerecon.reconstruction import Reconstruction

MATERIAL = "face"


def export_obj(recon: Reconstruction, mtl_name: str) -> str:
    corners = np.stack([recon.faces + 1, recon.face_uv + 1], axis=-1).reshape(len(recon.faces), 6)
    return "".join([
        "# facerecon face mesh; units: centimetres; axes: +X subject's left, +Y up, +Z out of the face\n",
        f"mtllib {mtl_name}\n",
        _rows("v %.5f %.5f %.5f\n", recon.vertices),
        _rows("vt %.6f %.6f\n", recon.uv),
        f"usemtl {MATERIAL}\n",
        _rows("f %d/%d %d/%d %d/%d\n", corners),
    ])  # fmt: skip


def _rows(line: str, values: np.ndarray) -> str:
    """One formatted line per row; one % over the whole array is ~4x faster than np.savetxt."""
    return (line * len(values)) % tuple(np.asarray(values).ravel().tolist())


def export_mtl(texture_name: str) -> str:
    return (
        f"newmtl {MATERIAL}\n"
        "Ka 1.000 1.000 1.000\nKd 1.000 1.000 1.000\nKs 0.000 0.000 0.000\nd 1.0\nillum 1\n"
        f"map_Kd {texture_name}\n"
    )
