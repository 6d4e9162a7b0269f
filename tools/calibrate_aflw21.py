"""Calibrate where AFLW's 21 landmarks sit on our mesh, from AFLW's labelled train crops.

    python tools/calibrate_aflw21.py [--shared ../shared] [--per-bin 1000] [--jobs 2]
    # then: python tools/build_face_model.py

AFLW's annotators placed their 21 points by their own rules (the ears are ear lobes, the brows' ends lie
further out than iBUG's), so the 68 mapped to 21 (3DDFA's protocol) misplace some of them, most of all
the ears on turned heads. As tools/calibrate_landmarks68.py does for the 68: each train crop is
reconstructed (the crop as the box, as benchmarks/aflw21.py does), each annotated point is cast onto the
fitted head (rasterised at 4x the crop's pixels, front faces only), carried to the mean face, and the
per-point median becomes the calibrated surface point. A fixed sample of `--per-bin` crops per |yaw| bin
of the train split, without the crops the regressor's fine-tuning held out (every 20th), which stay for
checking; never the dev split. Writes tools/aflw21_calibrated.json, which build_face_model.py reads.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tools"))

from calibrate_landmarks68 import cast_to_mean_face, median_surface_points  # noqa: E402

from facerecon.camera import PerspectiveCamera  # noqa: E402
from facerecon.datasets import aflw_points  # noqa: E402
from facerecon.io.image import load_image  # noqa: E402
from facerecon.model.face_model import load_face_model  # noqa: E402
from facerecon.pipeline import Reconstructor  # noqa: E402
from facerecon.render.rasterize import rasterize  # noqa: E402

OUT = ROOT / "tools" / "aflw21_calibrated.json"
BINS = [(0, 30), (30, 60), (60, 91)]
CROP = 120
UPSAMPLE = 4


def sample(labels: Path, per_bin: int) -> list[dict]:
    rows = [r for r in csv.DictReader(labels.open()) if r["split"] == "train"]
    rows = [r for i, r in enumerate(rows) if i % 20]  # every 20th is held out for checking
    rng = np.random.default_rng(0)
    chosen = []
    for lo, hi in BINS:
        in_bin = [r for r in rows if lo <= abs(float(r["yaw"])) < hi]
        chosen += [in_bin[i] for i in rng.choice(len(in_bin), min(per_bin, len(in_bin)), replace=False)]
    return chosen


def cast(job: tuple[Path, dict]) -> list[tuple[int, list[float]]]:
    """(point, mean-face position) for each annotated point of one crop that lands on the fitted head."""
    folder, row = job
    torch.set_num_threads(1)
    reconstructor = Reconstructor.shared()  # one per worker process
    model = reconstructor.model
    loaded = load_image(folder / row["name"])
    faces = reconstructor.detector.detect(loaded.pixels, bbox=[0, 0, CROP, CROP], keep_boxes=True)
    if not faces:
        return []
    face = reconstructor.reconstruct_face(loaded, faces[0], texture_size=64, photometric=False)
    c = face.camera
    size = CROP * UPSAMPLE
    # Pixel centres sit at integers: x at UPSAMPLE x finer resolution is (x + 0.5) * UPSAMPLE - 0.5.
    camera = PerspectiveCamera(c["focal"] * UPSAMPLE, (c["cx"] + 0.5) * UPSAMPLE - 0.5,
                               (c["cy"] + 0.5) * UPSAMPLE - 0.5, size, size)  # fmt: skip
    posed = face.posed_vertices().astype(np.float64)
    frags = rasterize(camera.to_screen(posed), model.faces, size, size, cull_back=True)
    truth = aflw_points(row)
    pixels = np.rint((truth + 0.5) * UPSAMPLE - 0.5).astype(int)
    pixels[(truth < 0).any(axis=1)] = -1  # not annotated
    return [(k, position.tolist()) for k, position in cast_to_mean_face(pixels, frags, posed, model, len(model.faces))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--per-bin", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    folder = args.shared / "faces" / "aflw_crops"
    jobs = [(folder, row) for row in sample(folder / "labels.csv", args.per_bin)]
    with Pool(args.jobs) as pool:
        results = pool.map(cast, jobs, chunksize=8)
    samples: list[list[list[float]]] = [[] for _ in range(21)]
    for found in results:
        for k, position in found:
            samples[k].append(position)
    model = load_face_model()
    tri, bary = median_surface_points(samples, model, len(model.faces))
    OUT.write_text(json.dumps({"crops": len(jobs), "tri": tri.tolist(), "bary": np.round(bary, 6).tolist()}) + "\n")
    print(f"calibrated 21 AFLW points on {len(jobs)} train crops; samples per point "
          f"{min(map(len, samples))}-{max(map(len, samples))}; wrote {OUT}")  # fmt: skip


if __name__ == "__main__":
    main()
