"""The per-face JSON record (schema in the README)."""

from __future__ import annotations

import json

import numpy as np

from facerecon import __version__
from facerecon.reconstruction import Reconstruction

SCHEMA_VERSION = 1


def reconstruction_to_dict(recon: Reconstruction, files: dict[str, str] | None = None) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "facerecon_version": __version__,
        "source": recon.source,
        "bbox": _rounded(recon.bbox, 2),
        "landmarks68": _rounded(recon.landmarks68, 2),
        "landmarks478": _rounded(recon.landmarks478, 2),
        "pose": {
            "yaw": round(float(recon.pose["yaw"]), 3),
            "pitch": round(float(recon.pose["pitch"]), 3),
            "roll": round(float(recon.pose["roll"]), 3),
            "rotation": _rounded(recon.pose["rotation"], 6),
            "translation": _rounded(recon.pose["translation"], 4),
        },
        "identity": _rounded(recon.identity, 5),
        "expression": {name: round(float(w), 5) for name, w in recon.expression.items()},
        "camera": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in recon.camera.items()},
        "lighting": None if recon.lighting is None else _rounded(recon.lighting, 5),
        "fit": _rounded_floats(recon.fit_stats),
        "units": "cm",
        "files": files or {},
    }


def export_json(recon: Reconstruction, files: dict[str, str] | None = None) -> str:
    return json.dumps(reconstruction_to_dict(recon, files), indent=1, allow_nan=False) + "\n"


def _rounded_floats(value: object) -> object:
    if isinstance(value, dict):
        return {k: _rounded_floats(v) for k, v in value.items()}
    return round(value, 5) if isinstance(value, float) else value


def _rounded(array: np.ndarray, digits: int) -> list:
    return np.round(np.asarray(array, dtype=np.float64), digits).tolist()
