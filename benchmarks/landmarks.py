"""68-point landmark accuracy (NME) on HELEN test and AFW: our fit against MediaPipe's own points.

    python benchmarks/landmarks.py [--shared ../shared] [--every 1]

Each face is given its ground-truth box (as 300-W protocols do). NME = mean point error / sqrt(w x h) of
the annotation's box. Baseline: MediaPipe's 478 points mapped to the 68 (for each of our 68 landmarks,
the MediaPipe point nearest to it on the mean face).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from facerecon.camera import PerspectiveCamera, matrix_to_euler  # noqa: E402
from facerecon.datasets import annotated_faces  # noqa: E402
from facerecon.fit.landmark_fit import LandmarkFitter  # noqa: E402
from facerecon.io.image import load_image  # noqa: E402
from facerecon.metrics import bbox_of, nme  # noqa: E402
from facerecon.model.face_model import FaceModel, load_face_model  # noqa: E402
from facerecon.model.surface import surface_points  # noqa: E402
from facerecon.pipeline import detect_faces  # noqa: E402

YAW_BINS = [(0, 30), (30, 60), (60, 91)]


def mediapipe_to_68(model: FaceModel) -> np.ndarray:
    mean = model.mean.numpy().astype(np.float64)
    ours = surface_points(mean, model.faces, model.landmarks68.tri, model.landmarks68.bary)
    theirs = surface_points(mean, model.faces, model.mediapipe.tri, model.mediapipe.bary)
    return np.linalg.norm(theirs[None] - ours[:, None], axis=2).argmin(axis=1)


def evaluate(folder: Path, every: int, model: FaceModel, fitter: LandmarkFitter) -> dict:
    mapping = mediapipe_to_68(model)
    ours, baseline, yaws, seconds, missed = [], [], [], [], 0
    for photo, truth in annotated_faces(folder, every):
        image = load_image(photo)
        faces = detect_faces(image.pixels, bbox=bbox_of(truth))
        if not faces:
            missed += 1
            continue
        h, w = image.pixels.shape[:2]
        start = time.perf_counter()
        fit = fitter.fit(faces[0].landmarks, PerspectiveCamera.for_image(w, h, image.focal_35mm))
        seconds.append(time.perf_counter() - start)
        vertices = fit.model_vertices(model)
        lm = fitter.landmarks68(fit, vertices)
        ours.append(nme(lm[:, :2], truth))
        baseline.append(nme(faces[0].landmarks[mapping, :2], truth))
        yaws.append(abs(matrix_to_euler(fit.rotation)[0]))
    return {
        "ours": np.array(ours),
        "baseline": np.array(baseline),
        "yaw": np.array(yaws),
        "seconds": np.array(seconds),
        "missed": missed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--every", type=int, default=1, help="use every N-th face (1 = all)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = load_face_model()
    fitter = LandmarkFitter(model)
    print("| set | faces | no face found | NME ours | NME MediaPipe→68 | ours by |yaw| 0-30 / 30-60 / 60-90 (n) |")
    print("|---|---|---|---|---|---|")
    for name in ("helen_test", "afw"):
        r = evaluate(args.shared / "faces" / name, args.every, model, fitter)
        bins = []
        for lo, hi in YAW_BINS:
            sel = (r["yaw"] >= lo) & (r["yaw"] < hi)
            bins.append(f"{r['ours'][sel].mean() * 100:.2f} % ({sel.sum()})" if sel.any() else "– (0)")
        print(
            f"| {name} | {len(r['ours'])} | {r['missed']} | {r['ours'].mean() * 100:.2f} % | "
            f"{r['baseline'].mean() * 100:.2f} % | {' / '.join(bins)} |"
        )
    print(f"\nlandmark fit: {np.median(r['seconds']) * 1000:.0f} ms median per face (afw), 2 threads")


if __name__ == "__main__":
    main()
