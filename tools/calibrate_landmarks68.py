"""Calibrate where the 68 iBUG landmarks sit on our mesh, from annotated photos (helen_train).

    python tools/calibrate_landmarks68.py [--shared ../shared]   # then: python tools/build_face_model.py

ICT-FaceKit's 68 landmark vertices follow its own markup, which differs from how 300-W annotators placed
points. For each near-frontal training photo we fit the model to MediaPipe's landmarks, cast each
annotated point onto the fitted face (rasterised triangle id + barycentrics), carry it to the mean face,
and take the per-landmark median; the nearest surface point of the mean face is the calibrated landmark.
Writes tools/landmarks68_calibrated.json (triangle ids and barycentrics), which build_face_model.py reads.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from facerecon.camera import PerspectiveCamera, matrix_to_euler  # noqa: E402
from facerecon.fit.landmark_fit import LandmarkFitter  # noqa: E402
from facerecon.io.image import load_image  # noqa: E402
from facerecon.io.pts import read_pts  # noqa: E402
from facerecon.metrics import bbox_of  # noqa: E402
from facerecon.model.face_model import FaceModel, load_face_model  # noqa: E402
from facerecon.model.surface import closest_points_on_mesh, surface_points, vertex_normals  # noqa: E402
from facerecon.pipeline import detect_faces  # noqa: E402
from facerecon.render.rasterize import Fragments, rasterize  # noqa: E402

MAX_YAW = 20.0  # degrees: contours of turned faces are silhouettes, not fixed surface points
OUT = ROOT / "tools" / "landmarks68_calibrated.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = parser.parse_args()
    model = load_face_model(ROOT / "src/facerecon/model/data/face_model.npz")
    fitter = LandmarkFitter(model)
    face_tris = 2 * 9230  # triangles of the face region (the mesh lists them first)
    samples: list[list[np.ndarray]] = [[] for _ in range(68)]
    used = 0
    for pts_path in sorted((args.shared / "faces/helen_train").glob("*.pts")):
        truth = read_pts(pts_path)
        image = load_image(pts_path.with_suffix(".jpg"))
        faces = detect_faces(image.pixels, bbox=bbox_of(truth))
        if not faces:
            continue
        h, w = image.pixels.shape[:2]
        fit = fitter.fit(faces[0].landmarks, PerspectiveCamera.for_image(w, h, image.focal_35mm))
        if abs(matrix_to_euler(fit.rotation)[0]) > MAX_YAW:
            continue
        vertices = fit.model_vertices(model)
        frags = rasterize(fit.to_screen(vertices), model.faces, h, w)
        used += 1
        for k, position in cast_to_mean_face(np.rint(truth).astype(int), frags, fit.to_camera(vertices), model,
                                             face_tris):  # fmt: skip
            samples[k].append(position)
    tri, bary = median_surface_points(samples, model, face_tris)
    OUT.write_text(json.dumps({"photos": used, "tri": tri.tolist(), "bary": np.round(bary, 6).tolist()}) + "\n")
    print(
        f"calibrated 68 landmarks on {used} near-frontal photos; samples per landmark "
        f"{min(map(len, samples))}-{max(map(len, samples))}; wrote {OUT}"
    )


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
