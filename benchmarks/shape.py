"""Shape accuracy on synthetic faces whose true geometry is known: NoW-style scan-to-mesh error of our fitted
identity against the unchanged mean face on the same renders.

    python benchmarks/shape.py [--shared ../shared] [--faces 24] [--seed 1] [--jobs 2] [--modes full,fast]

Each true face: an identity drawn from the model's prior (standard normal, clipped to ±3; no code of ours
was trained or tuned on these draws), neutral, wearing the de-lit albedo texture and the SH lighting of
a HELEN test photo's reconstruction, turned by a yaw in ±45° and a pitch in ±10°, rendered at 512² over a
grey background. Per render: reconstruct(); the predicted shape is the fitted identity with a neutral
expression (NoW compares neutral shapes). The "scan" is the true face within 9 cm of the nose tip; the
prediction is similarity-aligned to it and each scan vertex's distance to the aligned surface is taken
(facerecon.metrics.scan_to_mesh). Reported: median and mean of those distances in mm, per mode, and for
the mean face (identity 0) aligned in the same way.
"""

from __future__ import annotations

import argparse
import sys
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from facerecon.datasets import annotated_faces  # noqa: E402
from facerecon.metrics import scan_to_mesh  # noqa: E402
from facerecon.model.face_model import FaceModel  # noqa: E402
from facerecon.model.surface import surface_points  # noqa: E402
from facerecon.pipeline import Reconstructor  # noqa: E402
from facerecon.synthetic import neutral_shape, posed_head  # noqa: E402

SCAN_RADIUS = 9.0  # cm around the nose tip
NOSE_TIP = 30  # of the 68 iBUG points, 0-based


def scan_region(model: FaceModel, truth: np.ndarray) -> np.ndarray:
    """Face-region vertices of the true shape within SCAN_RADIUS of its nose tip."""
    nose = surface_points(truth, model.faces, model.landmarks68.tri[[NOSE_TIP]], model.landmarks68.bary[[NOSE_TIP]])
    near = np.linalg.norm(truth[: model.n_face_vertices] - nose, axis=1) < SCAN_RADIUS
    return np.flatnonzero(near)


def evaluate(job: tuple[np.ndarray, object, float, float, tuple[str, ...]]) -> dict:
    identity, look, yaw, pitch, modes = job
    torch.set_num_threads(1)
    reconstructor = Reconstructor.shared()  # one per worker process
    model = reconstructor.model
    truth = neutral_shape(model, identity)
    ids = scan_region(model, truth)
    faces = model.faces[: model.n_face_triangles]
    photo = posed_head(model, truth, look, yaw, pitch)[0]
    out = {"mean face": scan_to_mesh(truth, neutral_shape(model, np.zeros_like(identity)), faces, ids)}
    for mode in modes:
        fitted = reconstructor.reconstruct(photo, max_faces=1, fast=mode == "fast", texture_size=256)[0]
        out[mode] = scan_to_mesh(truth, neutral_shape(model, fitted.identity), faces, ids)
    return {k: (float(np.median(v)) * 10, float(v.mean()) * 10) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--faces", type=int, default=24)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--looks", type=int, default=6, help="HELEN test photos whose texture and light are worn")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--modes", default="full,fast")
    args = parser.parse_args()
    modes = tuple(args.modes.split(","))
    reconstructor = Reconstructor.shared()
    model = reconstructor.model
    photos = [photo for photo, _ in annotated_faces(args.shared / "faces" / "helen_test", every=50)][: args.looks]
    looks = [reconstructor.reconstruct(photo, max_faces=1, texture_size=512)[0] for photo in photos]
    rng = np.random.default_rng(args.seed)
    jobs = []
    for i in range(args.faces):
        identity = np.clip(rng.standard_normal(model.n_identity), -3, 3)
        jobs.append((identity, looks[i % len(looks)], rng.uniform(-45, 45), rng.uniform(-10, 10), modes))
    with get_context("spawn").Pool(args.jobs) as pool:  # fork would copy MediaPipe mid-use and hang
        results = pool.map(evaluate, jobs, chunksize=1)
    print(f"{args.faces} synthetic faces (seed {args.seed}), scan-to-mesh error after similarity alignment, mm:\n")
    print("| shape | median | mean |\n|---|---|---|")
    for name in ["mean face", *modes]:
        medians, means = np.array([r[name] for r in results]).T
        print(f"| {name} | {np.mean(medians):.3f} | {np.mean(means):.3f} |")


if __name__ == "__main__":
    main()
