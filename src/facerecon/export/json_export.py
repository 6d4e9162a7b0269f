"""The per-face JSON record (schema in the README)."""

from __future__ import annotations

import json
import math

import numpy as np
import torch

from facerecon import __version__
from facerecon.model.face_model import FaceModel, load_face_model
from facerecon.reconstruction import Reconstruction

SCHEMA_VERSION = 1


def reconstruction_to_dict(recon: Reconstruction, files: dict[str, str] | None = None) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "facerecon_version": __version__,
        "source": recon.source,
        "bbox": _rounded(recon.bbox, 2),
        "landmarks68": _rounded(recon.landmarks68, 2),
        "landmarks478": None if recon.landmarks478 is None else _rounded(recon.landmarks478, 2),
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
        "gaze": {} if recon.parts is None else {eye: _rounded(angles, 2) for eye, angles in recon.parts.gaze.items()},
        "fit": _rounded_floats(recon.fit_stats),
        "units": "cm",
        "files": files or {},
    }


def export_json(recon: Reconstruction, files: dict[str, str] | None = None) -> str:
    return json.dumps(reconstruction_to_dict(recon, files), indent=1, allow_nan=False) + "\n"


def _rounded_floats(value: object) -> object:
    if isinstance(value, dict):
        return {k: _rounded_floats(v) for k, v in value.items()}
    if isinstance(value, float):
        return round(value, 5) if math.isfinite(value) else None  # JSON has no NaN
    return value


def _rounded(array: np.ndarray, digits: int) -> list:
    return np.round(np.asarray(array, dtype=np.float64), digits).tolist()


def reconstruction_from_dict(
    record: dict, model: FaceModel | None = None, texture: np.ndarray | None = None
) -> Reconstruction:
    """Rebuild a Reconstruction from its JSON record: the mesh comes from the model with the recorded
    identity and expression. Raises ValueError for a record that is not ours or is inconsistent."""
    model = model if model is not None else load_face_model()
    try:
        identity = np.asarray(record["identity"], dtype=np.float64)
        names = list(record["expression"])
        weights = np.asarray([record["expression"][n] for n in model.expression_names], dtype=np.float64)
        pose = record["pose"]
        rotation = np.asarray(pose["rotation"], dtype=np.float64)
        translation = np.asarray(pose["translation"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a facerecon record: {exc}") from None
    if identity.shape != (model.n_identity,) or sorted(names) != sorted(model.expression_names):
        raise ValueError("record does not match the face model (identity size or expression names differ)")
    if rotation.shape != (3, 3) or translation.shape != (3,):
        raise ValueError("record pose has the wrong shape")
    arrays = [identity, weights, rotation, translation]
    if not all(np.isfinite(a).all() for a in arrays):
        raise ValueError("record holds non-finite numbers")
    with torch.no_grad():
        vertices = model(torch.from_numpy(identity).float()[None], torch.from_numpy(weights).float()[None])[0]
    lighting = record.get("lighting")
    return Reconstruction(
        vertices=vertices.numpy(),
        faces=model.faces,
        uv=model.uv,
        face_uv=model.face_uv,
        texture=texture if texture is not None else np.full((8, 8, 3), 128, dtype=np.uint8),
        landmarks68=np.asarray(record.get("landmarks68", np.zeros((68, 2))), dtype=np.float64),
        landmarks478=None if record.get("landmarks478") is None else np.asarray(record["landmarks478"], dtype=float),
        pose={
            "yaw": float(pose["yaw"]),
            "pitch": float(pose["pitch"]),
            "roll": float(pose["roll"]),
            "rotation": rotation,
            "translation": translation,
        },
        identity=identity,
        expression=dict(zip(model.expression_names, map(float, weights), strict=True)),
        camera=dict(record.get("camera", {})),
        bbox=np.asarray(record.get("bbox", [0, 0, 0, 0]), dtype=np.float64),
        fit_stats=dict(record.get("fit", {})),
        source=str(record.get("source", "<json>")),
        expression_basis=model.expression_basis.numpy(),
        lighting=None if lighting is None else np.asarray(lighting, dtype=np.float64),
    )
