"""Calibrate where the 68 iBUG landmarks sit on our mesh, from annotated photos (helen_train).

    python tools/calibrate_landmarks68.py [--shared ../shared] [--jobs 2]   # then: python tools/build_face_model.py

ICT-FaceKit's 68 landmark vertices follow its own markup, which differs from how 300-W annotators placed
points. The first calibration cast each point of near-frontal photos onto the fitted face and took the
median on the mean face (`cast_to_mean_face`, `median_surface_points`): that fixes where a point shows
from the front but leaves its depth open, which decides where it shows on a turned head. So each photo
is now reconstructed as the fast path does (the 68 play no part in the fit), and every point but the jaw
line moves to where its projections over all photos, turned ones included, lie nearest the annotations
(`refine_by_reprojection`, within SEARCH_RADIUS of where it was). The jaw line stays where the cast put
it: its points slide to the silhouette on turned heads (fit.contour), and refined on frontal photos its
ends moved ~2 cm forward, away from the ears that jaw points 3 and 15 stand for in AFLW's 21 (68 -> 21
NME at 60-90° on the held-out AFLW train crops 7.54 -> 7.76 %). Rewrites tools/landmarks68_calibrated.json
(triangle ids and barycentrics), which build_face_model.py reads.
"""

from __future__ import annotations

import argparse
import json
import sys
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from facerecon.camera import PerspectiveCamera  # noqa: E402
from facerecon.fit.contour import IBUG_JAW  # noqa: E402
from facerecon.io.image import load_image  # noqa: E402
from facerecon.io.pts import read_pts  # noqa: E402
from facerecon.metrics import bbox_of  # noqa: E402
from facerecon.model.face_model import FaceModel, load_face_model  # noqa: E402
from facerecon.model.surface import closest_points_on_mesh, surface_points, vertex_normals  # noqa: E402
from facerecon.pipeline import Reconstructor  # noqa: E402
from facerecon.render.rasterize import Fragments  # noqa: E402

FACE_TRIS = 2 * 9230  # triangles of the face region (the mesh lists them first)
SEARCH_RADIUS = 2.0  # cm around a point's place on the mean face; the refined points moved <= 0.7 cm
GRID = 4  # barycentric steps per triangle edge of the search (15 points a triangle)
OUT = ROOT / "tools" / "landmarks68_calibrated.json"


def fit_photo(pts_path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """One photo's labels (68, 2) and the pixels (V, 2) of the fitted face region's vertices, in vertex
    order; None where FaceMesh reads no face."""
    torch.set_num_threads(1)
    reconstructor = Reconstructor.shared()  # one per worker process
    truth = read_pts(pts_path)
    image = load_image(pts_path.with_suffix(".jpg"))
    faces = reconstructor.detector.detect(image.pixels, bbox=bbox_of(truth))
    if not faces:
        return None
    face = reconstructor.reconstruct_face(image, faces[0], texture_size=64, fast=True)
    region = np.unique(reconstructor.model.faces[:FACE_TRIS])
    pixels = PerspectiveCamera(**face.camera).to_screen(face.posed_vertices()[region].astype(np.float64))[:, :2]
    return truth, pixels.astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with Pool(args.jobs) as pool:
        fitted = [f for f in pool.map(fit_photo, sorted((args.shared / "faces/helen_train").glob("*.pts")), chunksize=8)
                  if f is not None]  # fmt: skip
    labels, pixels = np.stack([f[0] for f in fitted]), np.stack([f[1] for f in fitted])
    model = load_face_model(ROOT / "src/facerecon/model/data/face_model.npz")
    calibration = json.loads(OUT.read_text())
    tri, bary = np.array(calibration["tri"]), np.array(calibration["bary"])
    inner = np.setdiff1d(np.arange(68), IBUG_JAW)
    start = surface_points(model.mean.numpy().astype(np.float64), model.faces, tri[inner], bary[inner])
    tri[inner], bary[inner] = refine_by_reprojection(start, labels[:, inner], pixels, model, FACE_TRIS)
    calibration |= {"refined_on": len(fitted), "tri": tri.tolist(), "bary": np.round(bary, 6).tolist()}
    OUT.write_text(json.dumps(calibration) + "\n")
    print(f"refined {len(inner)} of the 68 landmarks on {len(fitted)} photos; wrote {OUT}")


def refine_by_reprojection(
    start: np.ndarray, labels: np.ndarray, pixels: np.ndarray, model: FaceModel, max_tri: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per point, the surface point within SEARCH_RADIUS of its `start` (P, 3) on the mean face whose
    projections lie nearest its `labels` (n, P, 2) over the n photos, in mean distance over each photo's
    label box size (the NME); NaN labels are not annotated. `pixels` (n, V, 2) are the fitted vertices
    among the first `max_tri` triangles' in each photo (in vertex order). Searched on a barycentric grid
    over those triangles (GRID steps an edge), interpolating the corners' pixels: (tri, bary)."""
    faces = model.faces[:max_tri]
    region = np.unique(faces)
    local = np.zeros(model.mean.shape[0], dtype=np.int64)
    local[region] = np.arange(len(region))
    mean = model.mean.numpy().astype(np.float64)
    steps = [(a, b, GRID - a - b) for a in range(GRID + 1) for b in range(GRID + 1 - a)]
    grid = np.array(steps, dtype=np.float64) / GRID
    size = np.sqrt(np.prod(np.nanmax(labels, axis=1) - np.nanmin(labels, axis=1), axis=1))  # (n,)
    tri, bary = np.zeros(len(start), dtype=np.int64), np.zeros((len(start), 3))
    for k, centre in enumerate(start):
        near = np.linalg.norm(mean[region] - centre, axis=1) < SEARCH_RADIUS
        candidates = np.flatnonzero(near[local[faces]].all(axis=1))
        annotated = ~np.isnan(labels[:, k, 0])
        corners = pixels[annotated][:, local[faces[candidates]]]  # (n, T, 3, 2)
        projected = np.einsum("gc,ntcd->ntgd", grid, corners).reshape(len(corners), -1, 2)
        error = np.linalg.norm(projected - labels[annotated, k, None], axis=2) / size[annotated, None]
        best = int(np.argmin(error.mean(axis=0)))
        tri[k], bary[k] = candidates[best // len(grid)], grid[best % len(grid)]
    return tri, bary


def cast_to_mean_face(
    pixels: np.ndarray, frags: Fragments, posed: np.ndarray, model: FaceModel, max_tri: int
) -> list[tuple[int, np.ndarray]]:
    """(point index, position on the mean face) for each integer pixel (N, 2) that sees a front face of the
    posed head (camera-space vertices `posed`, rasterised in `frags`) among its first `max_tri` triangles."""
    h, w = frags.tri.shape
    normals = vertex_normals(posed, model.faces)
    mean = model.mean.numpy().astype(np.float64)
    found = []
    for k, (x, y) in enumerate(pixels):
        if not (0 <= x < w and 0 <= y < h) or not (0 <= frags.tri[y, x] < max_tri):
            continue
        tri, bary = np.array([frags.tri[y, x]]), frags.bary[y, x].astype(np.float64)[None]
        if surface_points(normals, model.faces, tri, bary)[0, 2] <= 0:
            continue  # a back-facing hit, seen through the mouth opening
        found.append((k, surface_points(mean, model.faces, tri, bary)[0]))
    return found


def median_surface_points(
    samples: list[list[np.ndarray]], model: FaceModel, max_tri: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per point, the mean face's surface point nearest to the median of its samples: (tri, bary)."""
    medians = np.array([np.median(np.array(s), axis=0) for s in samples])
    tri, bary, _ = closest_points_on_mesh(medians, model.mean.numpy().astype(np.float64), model.faces[:max_tri])
    return tri, bary


if __name__ == "__main__":
    main()
