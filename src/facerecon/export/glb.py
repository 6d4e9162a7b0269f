"""Binary glTF 2.0 (.glb): the identity-baked neutral head with ARKit morph targets, ready to animate.

- Units metres, +Y up, +Z out of the face (glTF's own axes and "front"); our centimetres / 100.
- Vertices are split where the UV layout has seams (glTF keeps one UV per vertex).
- 52 morph targets named with ARKit's exact names in mesh.extras.targetNames; mesh.weights = the fitted
  expression, so the file opens showing the photo's expression and sliders animate it. Each target is a
  sparse accessor holding only the vertices it moves (the sample's file: 4.8 MB instead of 8.6).
- The head pose is the node's rotation and translation, in the frame of a camera node at the origin
  that looks down -Z as glTF cameras do (the photo's camera, with its vertical field of view).
- The UV texture is embedded as JPEG (or PNG on request) in an unlit-looking PBR material (metallic 0,
  roughness 1); the eyes' and mouth's as PNG.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from facerecon.export.images import jpeg_bytes, png_bytes
from facerecon.model.surface import vertex_normals
from facerecon.reconstruction import Reconstruction, TexturedMesh

CM_TO_M = 0.01
FLOAT, UINT32, UINT16 = 5126, 5125, 5123
COMPONENT_TYPES = {np.dtype(np.float32): FLOAT, np.dtype(np.uint32): UINT32, np.dtype(np.uint16): UINT16}
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
MORPH_TOLERANCE = 5e-5  # metres (0.05 mm): smaller morph-target offsets are stored as zero


@dataclass(frozen=True)
class Animation:
    """Keyframes for the head node: morph weights (T, E) in the order of recon.expression, rotations
    (T, 3, 3) and translations (T, 3) cm, at times (T,) seconds."""

    times: np.ndarray
    weights: np.ndarray
    rotations: np.ndarray
    translations: np.ndarray


def export_glb(
    recon: Reconstruction,
    animation: Animation | None = None,
    texture: str = "jpeg",
) -> bytes:
    """The GLB file's bytes: one primitive per mesh (skin, eyes, mouth), each with its material and the 52
    morph targets; texture: "jpeg" (the default: a quarter of the PNG's bytes) or "png" (lossless) for the
    skin's."""
    names = list(recon.expression)
    weights = np.array([recon.expression[name] for name in names], dtype=np.float32)
    builder = _Builder()
    if texture == "png":
        skin = (builder.view(png_bytes(recon.texture)), "image/png")
    else:
        skin = (builder.view(jpeg_bytes(recon.texture)), "image/jpeg")
    images = {"face": skin}  # the flat parts' texture always as PNG
    if recon.parts is not None:
        images["parts"] = (builder.view(png_bytes(recon.parts.texture)), "image/png")
    meshes = recon.meshes
    primitives = [_primitive(builder, mesh, weights, material) for material, mesh in enumerate(meshes)]
    materials = [{"name": mesh.name, "pbrMetallicRoughness": {
        "baseColorTexture": {"index": 0 if mesh.name == "face" else 1}, "metallicFactor": 0.0,
        "roughnessFactor": 1.0}} for mesh in meshes]  # fmt: skip

    rotation = np.asarray(recon.pose["rotation"], dtype=np.float64)
    translation = np.asarray(recon.pose["translation"], dtype=np.float64) * CM_TO_M
    camera = recon.camera
    document = {
        "asset": {"version": "2.0", "generator": "facerecon"},
        "scene": 0,
        "scenes": [{"nodes": [0, 1]}],
        "nodes": [
            {
                "name": "head",
                "mesh": 0,
                "rotation": Rotation.from_matrix(rotation).as_quat().tolist(),
                "translation": translation.tolist(),
            },
            {"name": "photo_camera", "camera": 0},
        ],
        "cameras": [
            {
                "type": "perspective",
                "perspective": {
                    "yfov": 2 * math.atan(camera["height"] / 2 / camera["focal"]),
                    "aspectRatio": camera["width"] / camera["height"],
                    "znear": 0.01,
                },
            }
        ],
        "meshes": [
            {
                "name": "face",
                "primitives": primitives,
                "weights": [float(w) for w in weights],
                "extras": {"targetNames": names},
            }
        ],
        "materials": materials,
        "textures": [{"sampler": 0, "source": i} for i in range(len(images))],
        "samplers": [{"magFilter": 9729, "minFilter": 9987, "wrapS": 33071, "wrapT": 33071}],
        "images": [{"bufferView": view, "mimeType": mime} for view, mime in images.values()],
        **({"animations": [_animation(builder, animation)]} if animation is not None else {}),
        "accessors": builder.accessors,
        "bufferViews": builder.views,
        "buffers": [{"byteLength": len(builder.data)}],
    }
    return _glb(document, bytes(builder.data))


def _primitive(builder: _Builder, mesh: TexturedMesh, weights: np.ndarray, material: int) -> dict:
    """A glTF primitive of one mesh: the neutral shape (the fitted one less its expression), its normals and
    UVs, and its morph targets as sparse accessors."""
    corners, vertex_of, uv_of = split_seams(mesh.faces, mesh.face_uv)
    neutral = mesh.vertices - (weights @ mesh.expression_basis.reshape(len(weights), -1)).reshape(-1, 3)
    positions = (neutral[vertex_of] * CM_TO_M).astype(np.float32)
    normals = vertex_normals(neutral.astype(np.float64), mesh.faces)[vertex_of].astype(np.float32)
    uvs = (mesh.uv[uv_of] * [1, -1] + [0, 1]).astype(np.float32)  # glTF's UV origin is the top-left
    attributes = {
        "POSITION": builder.accessor(positions, "VEC3", ARRAY_BUFFER, bounds=True),
        "NORMAL": builder.accessor(normals, "VEC3", ARRAY_BUFFER),
        "TEXCOORD_0": builder.accessor(uvs, "VEC2", ARRAY_BUFFER),
    }
    targets = [{"POSITION": target} for target in _morph_targets(builder, mesh.expression_basis, vertex_of)]
    indices = builder.accessor(corners.astype(index_type(len(vertex_of))).reshape(-1), "SCALAR", ELEMENT_ARRAY_BUFFER)
    return {"attributes": attributes, "indices": indices, "material": material, "targets": targets}


def _morph_targets(builder: _Builder, basis: np.ndarray, vertex_of: np.ndarray) -> list[int]:
    """One sparse accessor per expression (E, V, 3 cm) over the split vertices `vertex_of`, holding the
    vertices it moves by more than MORPH_TOLERANCE in some axis (smaller offsets stored as zero). The
    tolerance is applied to the V model vertices, not the more numerous split ones, and all targets'
    moving rows are gathered at once."""
    kept = np.where(np.abs(basis) > MORPH_TOLERANCE / CM_TO_M, basis, 0).astype(np.float32)
    moves = ((kept[..., 0] != 0) | (kept[..., 1] != 0) | (kept[..., 2] != 0))[:, vertex_of]
    target_of, rows = np.nonzero(moves)  # ordered by target, then row
    values = kept[target_of, vertex_of[rows]] * np.float32(CM_TO_M)
    counts = np.bincount(target_of, minlength=len(basis))
    starts = np.cumsum(counts) - counts
    # Each target's bounds, with the zeros of the rows it does not store where there are any.
    low, high = np.zeros((len(basis), 3), np.float32), np.zeros((len(basis), 3), np.float32)
    stored = counts > 0
    low[stored] = np.minimum.reduceat(values, starts[stored], axis=0)
    high[stored] = np.maximum.reduceat(values, starts[stored], axis=0)
    sparse = counts < len(vertex_of)
    low[sparse], high[sparse] = np.minimum(low[sparse], 0), np.maximum(high[sparse], 0)
    return [
        builder.sparse_accessor(len(vertex_of), rows[start : start + count], values[start : start + count], lo, hi)
        for start, count, lo, hi in zip(starts.tolist(), counts.tolist(), low.tolist(), high.tolist(), strict=True)
    ]


def _animation(builder: _Builder, animation: Animation) -> dict:
    """One glTF animation on node 0: weights, rotation and translation channels, linearly interpolated."""
    times = builder.accessor(np.asarray(animation.times, dtype=np.float32), "SCALAR", None, bounds=True)
    outputs = {
        "weights": builder.accessor(np.asarray(animation.weights, dtype=np.float32).reshape(-1), "SCALAR", None),
        "rotation": builder.accessor(_continuous_quaternions(animation.rotations), "VEC4", None),
        "translation": builder.accessor(
            (np.asarray(animation.translations) * CM_TO_M).astype(np.float32), "VEC3", None
        ),
    }
    return {
        "name": "performance",
        "samplers": [{"input": times, "output": out, "interpolation": "LINEAR"} for out in outputs.values()],
        "channels": [{"sampler": i, "target": {"node": 0, "path": path}} for i, path in enumerate(outputs)],
    }


def index_type(count: int) -> type:
    """The smallest unsigned type that indexes `count` items (halves the index bytes below 65,536)."""
    return np.uint16 if count < 65536 else np.uint32


def split_seams(faces: np.ndarray, face_uv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One glTF vertex per distinct (vertex, uv) corner pair: (new faces (F, 3), vertex id and uv id of
    each new vertex)."""
    stride = int(face_uv.max()) + 1  # one integer per pair, ordered as the pairs (np.unique(axis=0) is slow)
    keys = faces.reshape(-1).astype(np.int64) * stride + face_uv.reshape(-1)
    unique, inverse = np.unique(keys, return_inverse=True)
    return inverse.reshape(faces.shape), unique // stride, unique % stride


class _Builder:
    """Accumulates the binary buffer, its views and accessors."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def view(self, payload: bytes, target: int | None = None) -> int:
        self.data.extend(b"\0" * (-len(self.data) % 4))
        view = {"buffer": 0, "byteOffset": len(self.data), "byteLength": len(payload)}
        if target is not None:
            view["target"] = target
        self.data.extend(payload)
        self.views.append(view)
        return len(self.views) - 1

    def accessor(self, array: np.ndarray, kind: str, target: int | None, bounds: bool = False) -> int:
        array = np.ascontiguousarray(array)
        accessor = {
            "bufferView": self.view(array.tobytes(), target),
            "componentType": COMPONENT_TYPES[array.dtype],
            "count": len(array),
            "type": kind,
        }
        if bounds:
            accessor["min"] = np.atleast_1d(array.min(axis=0)).tolist()
            accessor["max"] = np.atleast_1d(array.max(axis=0)).tolist()
        self.accessors.append(accessor)
        return len(self.accessors) - 1

    def sparse_accessor(self, count: int, rows: np.ndarray, values: np.ndarray, low: list, high: list) -> int:
        """A VEC3 float accessor of `count` rows, bounded by `low` and `high`, that stores only `values`
        (R, 3) at `rows` (R,) (glTF's sparse accessors: the rest read as zero). Most ARKit shapes move a small
        part of the head."""
        accessor = {"componentType": FLOAT, "count": count, "type": "VEC3", "min": low, "max": high}
        if len(rows):  # a sparse block needs at least one entry; without one the accessor is all zeros
            indices = rows.astype(index_type(count))
            accessor["sparse"] = {
                "count": len(rows),
                "indices": {
                    "bufferView": self.view(indices.tobytes()),
                    "componentType": COMPONENT_TYPES[indices.dtype],
                },
                "values": {"bufferView": self.view(np.ascontiguousarray(values, dtype=np.float32).tobytes())},
            }
        self.accessors.append(accessor)
        return len(self.accessors) - 1


def _glb(document: dict, binary: bytes) -> bytes:
    text = json.dumps(document, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    binary += b"\0" * (-len(binary) % 4)
    total = 12 + 8 + len(text) + 8 + len(binary)
    return (
        struct.pack("<4sII", b"glTF", 2, total)
        + struct.pack("<I4s", len(text), b"JSON")
        + text
        + struct.pack("<I4s", len(binary), b"BIN\0")
        + binary
    )


def _continuous_quaternions(rotations: np.ndarray) -> np.ndarray:
    """(T, 4) quaternions [x, y, z, w] with signs chosen so neighbours are close (q and -q are the same
    rotation, but glTF interpolates between the numbers)."""
    quats = Rotation.from_matrix(np.asarray(rotations, dtype=np.float64)).as_quat()
    for t in range(1, len(quats)):
        if np.dot(quats[t], quats[t - 1]) < 0:
            quats[t] = -quats[t]
    return quats.astype(np.float32)
