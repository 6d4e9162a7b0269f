"""Wavefront OBJ + MTL: positions in model space (cm, +Y up, +Z out of the face), one UV-mapped material."""

from __future__ import annotations

import io

import numpy as np

from facerecon.reconstruction import Reconstruction

MATERIAL = "face"


def export_obj(recon: Reconstruction, mtl_name: str) -> str:
    out = io.StringIO()
    out.write("# facerecon face mesh; units: centimetres; axes: +X subject's left, +Y up, +Z out of the face\n")
    out.write(f"mtllib {mtl_name}\n")
    np.savetxt(out, recon.vertices, fmt="v %.5f %.5f %.5f")
    np.savetxt(out, recon.uv, fmt="vt %.6f %.6f")
    out.write(f"usemtl {MATERIAL}\n")
    corners = np.stack([recon.faces + 1, recon.face_uv + 1], axis=-1).reshape(len(recon.faces), 6)
    np.savetxt(out, corners, fmt="f %d/%d %d/%d %d/%d")
    return out.getvalue()


def export_mtl(texture_name: str) -> str:
    return (
        f"newmtl {MATERIAL}\n"
        "Ka 1.000 1.000 1.000\nKd 1.000 1.000 1.000\nKs 0.000 0.000 0.000\nd 1.0\nillum 1\n"
        f"map_Kd {texture_name}\n"
    )
