"""Build facerecon's face model asset from ICT-FaceKit Light and MediaPipe's canonical face mesh.

    python tools/build_face_model.py [--shared ../shared] [--out src/facerecon/model/data/face_model.npz]

Reads ../shared/facekit/ict_facekit_light.npz and mediapipe_canonical_face_model.obj; writes one .npz
(see facerecon.model.face_model for units and axes). Deterministic on one machine (single-threaded
numerics); across machines float ties may put an embedded point on the neighbouring triangle of the same
edge, so compare embedded points by position, not by triangle id.
What it derives:
- the skin surface (face + head and neck, ICT vertices 0-11,247), quads split into triangles, with the UV
  tiles of face (left 3/4 of the texture) and back of head (right 1/4) packed into one texture;
- an identity PCA recomputed on that region, coefficient 1.0 = one standard deviation;
- the 53 ICT expressions as ARKit's 52 blendshapes;
- the 68 iBUG landmarks (ICT's vertex ids, or the calibrated embedding from tools/calibrate_landmarks68.py);
- AFLW's 21 points as surface points calibrated by tools/calibrate_aflw21.py (for benchmarks/aflw21.py);
- the 468 MediaPipe landmarks embedded on the surface by our rigid + non-rigid registration, and where
  FaceMesh's points land on faces of known shape (tools/calibrate_mediapipe.py; the landmark fit uses these);
- a left/right mirror map of the vertices (used to fill texture the photo cannot see);
- the eyeballs and the inside of the mouth (socket, gums and tongue, teeth) as a second mesh whose identity
  and expression deltas follow the skin's coefficients.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

# One thread for BLAS and OpenMP, set before numpy loads: threaded reductions sum in a varying order.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from scipy.sparse.linalg import eigsh, spsolve  # noqa: E402
from scipy.spatial import cKDTree  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from facerecon.metrics import apply_similarity, umeyama  # noqa: E402
from facerecon.model.arkit import ARKIT_NAMES, ict_sources  # noqa: E402
from facerecon.model.surface import (  # noqa: E402
    closest_points_on_mesh,
    mesh_edges,
    surface_points,
    uniform_laplacian,
)

N_KEPT_VERTICES = 11248  # face (0-9,408) + head and neck (9,409-11,247)
N_KEPT_QUADS = 11144
N_FACE_VERTICES = 9409
N_FACE_QUADS = 9230
N_IDENTITY = 64  # 99.4 % of the identity variance on the kept region
N_ALBEDO = 100  # low-frequency colour modes (graph-Laplacian eigenvectors)
FACE_TILE_WIDTH = 0.75  # share of the texture's width given to the face UV tile
# The parts beside the skin (ICT vertex ranges, end exclusive) and where each ICT material's UV tile goes in
# the parts' texture: (u0, v0, width, height). The mouth socket uses a corner of ICT's back-of-head tile.
PART_NAMES = ["eye_left", "eye_right", "mouth_socket", "gums_tongue", "teeth"]
PART_VERTICES = {"eye_left": (21451, 23021), "eye_right": (23021, 24591), "mouth_socket": (11248, 13294),
                 "gums_tongue": (14062, 17039), "teeth": (17039, 21451)}  # fmt: skip
PART_CELLS = {  # a 3 x 2 grid; both eyes share the sclera and iris cells
    "M_ScleraLeft": (0.0, 0.5, 1 / 3, 0.5), "M_ScleraRight": (0.0, 0.5, 1 / 3, 0.5),
    "M_IrisLeft": (1 / 3, 0.5, 1 / 3, 0.5), "M_IrisRight": (1 / 3, 0.5, 1 / 3, 0.5),
    "M_BackHead": (2 / 3, 0.5, 1 / 3, 0.5), "M_GumsTongue": (0.0, 0.0, 1 / 3, 0.5), "M_Teeth": (1 / 3, 0.0, 1 / 3, 0.5),
}  # fmt: skip
CALIBRATION = ROOT / "tools" / "landmarks68_calibrated.json"
AFLW21_CALIBRATION = ROOT / "tools" / "aflw21_calibrated.json"  # from tools/calibrate_aflw21.py
MEDIAPIPE_CALIBRATION = ROOT / "tools" / "mediapipe_calibrated.json"  # from tools/calibrate_mediapipe.py

# Unambiguous points of both meshes used to start the registration: MediaPipe vertex -> iBUG 68 index
# (outer and inner eye corners, nose tip, mouth corners, chin).
MEDIAPIPE_TO_IBUG = {33: 36, 133: 39, 362: 42, 263: 45, 1: 30, 61: 48, 291: 54, 152: 8}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--out", type=Path, default=ROOT / "src/facerecon/model/data/face_model.npz")
    args = parser.parse_args()
    arrays = build(args.shared / "facekit")
    write_npz(args.out, arrays)
    mp_vertices, _ = read_obj(args.shared / "facekit" / "mediapipe_canonical_face_model.obj")
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB); MediaPipe embedding residual "
        f"{registration_residual(arrays, mp_vertices):.3f} cm RMS"
    )


def build(facekit: Path) -> dict[str, np.ndarray]:
    ict = np.load(facekit / "ict_facekit_light.npz")
    mean = ict["neutral"][:N_KEPT_VERTICES].astype(np.float64)
    faces, face_uv, uv = triangulate_with_uvs(ict)
    mp_vertices, mp_faces = read_obj(facekit / "mediapipe_canonical_face_model.obj")

    face_region = faces[: 2 * N_FACE_QUADS]
    mp_tri, mp_bary = register_mediapipe(mp_vertices, mp_faces, mean, face_region, ict["landmarks68"])
    lm68_tri, lm68_bary = landmarks68(ict["landmarks68"], faces)
    aflw21 = json.loads(AFLW21_CALIBRATION.read_text())
    detected = json.loads(MEDIAPIPE_CALIBRATION.read_text()) if MEDIAPIPE_CALIBRATION.exists() else {}
    identity_basis = identity_pca(ict["identity"][:, :N_KEPT_VERTICES]).astype(np.float32)
    return {
        "mean": mean.astype(np.float32),
        "identity_basis": identity_basis,
        "expression_basis": arkit_expressions(ict).astype(np.float32),
        "expression_names": np.array(ARKIT_NAMES),
        "faces": faces.astype(np.int32),
        "uv": uv.astype(np.float32),
        "face_uv": face_uv.astype(np.int32),
        "lm68_tri": lm68_tri.astype(np.int32),
        "lm68_bary": lm68_bary.astype(np.float32),
        "aflw21_tri": np.array(aflw21["tri"], dtype=np.int32),
        "aflw21_bary": np.array(aflw21["bary"], dtype=np.float32),
        "mp_tri": mp_tri.astype(np.int32),
        "mp_bary": mp_bary.astype(np.float32),
        "mp_faces": mp_faces.astype(np.int32),
        "mpcal_tri": np.array(detected.get("tri", mp_tri), dtype=np.int32),
        "mpcal_bary": np.array(detected.get("bary", mp_bary), dtype=np.float32),
        "mirror": mirror_map(mean).astype(np.int32),
        **albedo_basis(faces, len(mean)),
        "n_face_vertices": np.array(N_FACE_VERTICES),
        **parts(ict, identity_basis),
    }


def triangulate_with_uvs(ict: np.lib.npyio.NpzFile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split the kept quads into triangles (0,1,2)+(0,2,3); pack both UV tiles into [0, 1]²."""
    quads, quad_uv = ict["faces"][:N_KEPT_QUADS], ict["face_uv"][:N_KEPT_QUADS]
    # Interleave so triangles 2i and 2i+1 come from quad i: region ranges stay contiguous.
    faces = np.stack([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]], axis=1).reshape(-1, 3)
    face_uv = np.stack([quad_uv[:, [0, 1, 2]], quad_uv[:, [0, 2, 3]]], axis=1).reshape(-1, 3)
    used = np.unique(face_uv)
    remap = np.full(ict["uv"].shape[0], -1)
    remap[used] = np.arange(len(used))
    uv = ict["uv"][used].astype(np.float64)
    on_face_tile = uv[:, 0] < 1.0
    uv[:, 0] = np.where(
        on_face_tile, uv[:, 0] * FACE_TILE_WIDTH, FACE_TILE_WIDTH + (uv[:, 0] - 1.0) * (1 - FACE_TILE_WIDTH)
    )
    return faces, remap[face_uv], uv


def identity_pca(deltas: np.ndarray) -> np.ndarray:
    """Principal modes of the identity deltas (K, V, 3), each scaled to one standard deviation.

    ICT's coefficients have a standard normal prior, so the shape covariance is DᵀD; its eigenvectors scaled
    by the singular values are modes with a standard normal prior again. Signs are fixed (largest entry
    positive) so the build is deterministic.
    """
    d = deltas.reshape(len(deltas), -1).astype(np.float64)
    _, s, vt = np.linalg.svd(d, full_matrices=False)
    modes = s[:N_IDENTITY, None] * vt[:N_IDENTITY]
    sign = np.sign(modes[np.arange(N_IDENTITY), np.abs(modes).argmax(axis=1)])
    return (modes * sign[:, None]).reshape(N_IDENTITY, -1, 3)


def arkit_expressions(ict: np.lib.npyio.NpzFile, vertices: slice = slice(0, N_KEPT_VERTICES)) -> np.ndarray:
    names = [str(n) for n in ict["expression_names"]]
    deltas = ict["expression"][:, vertices].astype(np.float64)
    out = np.zeros((len(ARKIT_NAMES), deltas.shape[1], 3))
    for i, name in enumerate(ARKIT_NAMES):
        for source in ict_sources(name, names):
            out[i] += deltas[names.index(source)]
    return out


def parts(ict: np.lib.npyio.NpzFile, identity_basis: np.ndarray) -> dict[str, np.ndarray]:
    """The eyeballs and the mouth's inside (mouth socket, gums and tongue, teeth) as a second mesh: its
    vertices, triangles, UVs (each ICT material's UV tile moved into its own cell of the parts' texture,
    PART_CELLS), and identity and expression deltas that follow the skin's coefficients.

    The skin's identity modes are combinations of ICT's identity shapes (identity_pca): the same
    combinations, found by least squares from `identity_basis`, move the parts."""
    keep = np.concatenate([np.arange(*PART_VERTICES[name]) for name in PART_NAMES])
    renumber = np.full(len(ict["neutral"]), -1)
    renumber[keep] = np.arange(len(keep))
    materials = [str(m) for m in ict["material_names"]]
    faces, uv_keys, part_of = [], [], []
    for index, name in enumerate(PART_NAMES):
        lo, hi = PART_VERTICES[name]
        corners = ict["faces"]
        inside = ((corners[:, :3] >= lo) & (corners[:, :3] < hi)).all(axis=1)
        for q in np.flatnonzero(inside):
            material = materials[ict["face_material"][q]]
            for tri in ([0, 1, 2], [0, 2, 3]) if corners[q, 3] >= 0 else ([0, 1, 2],):
                faces.append(renumber[corners[q, tri]])
                uv_keys.append([(int(u), material) for u in ict["face_uv"][q, tri]])
                part_of.append(index)
    distinct = sorted({key for keys in uv_keys for key in keys})
    slot = {key: i for i, key in enumerate(distinct)}
    uv = np.array([ict["uv"][u] for u, _ in distinct], dtype=np.float64)
    names = np.array([m for _, m in distinct])
    for material, (u0, v0, width, height) in PART_CELLS.items():
        mine = names == material
        if mine.any():  # each material's own UV extent fills its cell
            low, high = uv[mine].min(axis=0), uv[mine].max(axis=0)
            uv[mine] = [u0, v0] + (uv[mine] - low) / np.maximum(high - low, 1e-9) * [width, height]
    return {
        "parts_mean": ict["neutral"][keep].astype(np.float32),
        "parts_identity_basis": part_identity(ict, identity_basis, keep).astype(np.float16),  # half: ~1e-4 cm error
        "parts_expression_basis": np.concatenate(
            [arkit_expressions(ict, slice(*PART_VERTICES[name])) for name in PART_NAMES], axis=1
        ).astype(np.float16),
        "parts_faces": np.array(faces, dtype=np.int32),
        "parts_uv": uv.astype(np.float32),
        "parts_face_uv": np.array([[slot[k] for k in keys] for keys in uv_keys], dtype=np.int32),
        "parts_triangle_part": np.array(part_of, dtype=np.int8),
        "part_names": np.array(PART_NAMES),
    }


def part_identity(ict: np.lib.npyio.NpzFile, identity_basis: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The parts' deltas (K, P, 3) of the skin's identity modes: each mode is a combination of ICT's
    identity shapes on the skin; the same combination of their deltas on the parts."""
    shapes = ict["identity"][:, :N_KEPT_VERTICES].reshape(len(ict["identity"]), -1).astype(np.float64)
    modes = identity_basis.reshape(len(identity_basis), -1).astype(np.float64)
    combination = np.linalg.lstsq(shapes.T, modes.T, rcond=None)[0].T  # (K, ICT's shapes)
    return np.einsum("ki,ivd->kvd", combination, ict["identity"][:, keep].astype(np.float64))


def landmarks68(ict_ids: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 68 landmarks as surface points: calibrated if tools/landmarks68_calibrated.json exists."""
    if CALIBRATION.exists():
        calib = json.loads(CALIBRATION.read_text())
        return np.array(calib["tri"]), np.array(calib["bary"])
    tri = np.array([np.flatnonzero((faces == v).any(axis=1))[0] for v in ict_ids])
    bary = (faces[tri] == ict_ids[:, None]).astype(np.float64)
    return tri, bary


def read_obj(path: Path) -> tuple[np.ndarray, np.ndarray]:
    vertices, faces = [], []
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "v":
            vertices.append([float(x) for x in parts[1:4]])
        elif parts and parts[0] == "f":
            faces.append([int(p.split("/")[0]) - 1 for p in parts[1:4]])
    return np.array(vertices), np.array(faces)


def register_mediapipe(
    mp_vertices: np.ndarray, mp_faces: np.ndarray, mean: np.ndarray, faces: np.ndarray, ict_lm68: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Embed MediaPipe's canonical mesh on our surface: similarity from 8 named points, similarity ICP,
    then non-rigid ICP with a Laplacian smoothness term that relaxes step by step. Returns (tri, bary)."""
    src = np.array(list(MEDIAPIPE_TO_IBUG))
    dst = mean[ict_lm68[list(MEDIAPIPE_TO_IBUG.values())]]
    points = apply_similarity(mp_vertices, *umeyama(mp_vertices[src], dst))
    for _ in range(20):
        _, _, closest = closest_points_on_mesh(points, mean, faces)
        points = apply_similarity(points, *umeyama(points, closest))

    laplacian = graph_laplacian(mp_faces, len(mp_vertices))
    smooth = laplacian.T @ laplacian
    rest = points.copy()
    for weight in (10.0, 3.0, 1.0, 0.3, 0.1, 0.03):
        for _ in range(3):
            _, _, closest = closest_points_on_mesh(points, mean, faces)
            system = (sp.identity(len(points)) + weight * smooth).tocsc()
            rhs = closest + weight * (smooth @ rest)
            points = np.column_stack([spsolve(system, rhs[:, k]) for k in range(3)])
    tri, bary, _ = closest_points_on_mesh(points, mean, faces)
    return tri, bary


def graph_laplacian(faces: np.ndarray, n: int) -> sp.csr_matrix:
    """Uniform graph Laplacian L = I - D⁻¹A of the mesh's edge graph."""
    edges = mesh_edges(faces)
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    adjacency = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    return (sp.identity(n) - sp.diags(1.0 / degree) @ adjacency).tocsr()


def albedo_basis(faces: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """The N_ALBEDO smoothest functions on the mesh: eigenvectors of its graph Laplacian D - A, scaled to
    RMS 1 over the vertices, with their eigenvalues (a smoothness measure). The first is constant."""
    laplacian = uniform_laplacian(faces, n)
    start = np.random.default_rng(0).standard_normal(n)  # ARPACK's start vector, fixed for a repeatable build
    values, vectors = eigsh(laplacian.tocsc(), k=N_ALBEDO, sigma=-1e-3, which="LM", v0=start)
    order = np.argsort(values)
    values, vectors = values[order], vectors[:, order] * np.sqrt(n)
    vectors *= np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(N_ALBEDO)])
    return {"albedo_basis": vectors.T.astype(np.float32), "albedo_eigenvalues": np.clip(values, 0, None)}


def mirror_map(mean: np.ndarray) -> np.ndarray:
    """For each vertex, the vertex nearest to its reflection through the X = 0 plane."""
    _, idx = cKDTree(mean).query(mean * np.array([-1.0, 1.0, 1.0]))
    return idx


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def registration_residual(arrays: dict[str, np.ndarray], mp_vertices: np.ndarray) -> float:
    """RMS distance (cm) between the embedded MediaPipe points and the canonical mesh after a similarity."""
    pts = surface_points(arrays["mean"].astype(np.float64), arrays["faces"], arrays["mp_tri"], arrays["mp_bary"])
    fitted = apply_similarity(mp_vertices, *umeyama(mp_vertices, pts))
    return float(np.sqrt(((fitted - pts) ** 2).sum(1).mean()))


if __name__ == "__main__":
    main()
