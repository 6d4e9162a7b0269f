"""Large-pose accuracy on AFLW's dev split: 21-point NME and yaw error per |yaw| bin, full fit, --fast and
MediaPipe's own points.

    python benchmarks/aflw21.py [--shared ../shared] [--per-bin 100] [--jobs 2] [--modes full,fast]

Dev split only (never trained or calibrated on). A fixed random sample of `--per-bin` crops per |yaw| bin
(0-30, 30-60, 60-90; seed 0, so runs compare). Per crop, the crop is the box: the detector (bbox=[0, 0,
120, 120], keep_boxes=True) then Reconstructor.reconstruct_face, which is what reconstruct(crop, bbox=...) does. The
21 points come from `landmarks68` by 3DDFA's AFLW mapping (the ears are contour points 3 and 15); NME =
mean distance over the annotated points / sqrt(w x h) of their bounding box; mean per bin, then the mean
of the three bins. Yaw MAE against the labels (AFLW counts yaw with the opposite sign to ours: positive
when the nose turns to image left). "MediaPipe" is its 478 points mapped to the 68 (nearest point on the
mean face) and then to the 21; where FaceMesh reads no face it counts as a miss. The texture is baked
at 256² to save time: no landmark depends on it.
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from landmarks import mediapipe_to_68  # noqa: E402

from facerecon.datasets import aflw_points  # noqa: E402
from facerecon.io.image import load_image  # noqa: E402
from facerecon.metrics import calibrated_aflw21, to_aflw21, visible_nme  # noqa: E402
from facerecon.pipeline import Reconstructor  # noqa: E402

BINS = [(0, 30), (30, 60), (60, 91)]
CROP = 120


def sample_crops(labels: Path, per_bin: int, split: str = "dev") -> list[dict]:
    """The fixed sample of a split; "train" means the train crops the regressor's fine-tuning holds out
    (every 20th, tools/finetune_regressor_aflw.py), the set that tuning and calibration may use."""
    rows = [r for r in csv.DictReader(labels.open()) if r["split"] == split]
    rows = rows[::20] if split == "train" else rows
    rng = np.random.default_rng(0)
    sample = []
    for lo, hi in BINS:
        in_bin = [r for r in rows if lo <= abs(float(r["yaw"])) < hi]
        sample += [in_bin[i] for i in sorted(rng.choice(len(in_bin), min(per_bin, len(in_bin)), replace=False))]
    return sample


def evaluate(job: tuple[Path, dict, tuple[str, ...]]) -> dict:
    folder, row, modes = job
    torch.set_num_threads(1)
    reconstructor = Reconstructor.shared()  # one per worker process
    model = reconstructor.model
    truth = aflw_points(row)
    loaded = load_image(folder / row["name"])
    faces = reconstructor.detector.detect(loaded.pixels, bbox=[0, 0, CROP, CROP], keep_boxes=True)
    out: dict = {"name": row["name"], "yaw": float(row["yaw"])}
    if faces and faces[0].landmarks is not None:
        out["mediapipe"] = {"nme": visible_nme(to_aflw21(faces[0].landmarks[mediapipe_to_68(model), :2]), truth)}
    for mode in modes:
        if not faces:
            continue
        face = reconstructor.reconstruct_face(loaded, faces[0], fast=mode == "fast", texture_size=256)
        common = {"yaw": face.pose["yaw"], "method": face.fit_stats.get("method", "")}
        out[mode] = {"nme": visible_nme(to_aflw21(face.landmarks68), truth)} | common
        out[f"{mode}, calibrated 21"] = {"nme": visible_nme(calibrated_aflw21(face, model), truth)} | common
    return out


def table(results: list[dict], modes: tuple[str, ...]) -> str:
    yaw = np.array([r["yaw"] for r in results])
    lines = ["| | 0–30° | 30–60° | 60–90° | bin mean | no result | yaw MAE 0–30 / 30–60 / 60–90 |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for mode in (*modes, *(f"{m}, calibrated 21" for m in modes), "mediapipe"):
        cells, means, maes, misses = [], [], [], 0
        for lo, hi in BINS:
            sel = [r for r, y in zip(results, yaw, strict=True) if lo <= abs(y) < hi]
            got = [r[mode] for r in sel if mode in r]
            misses += len(sel) - len(got)
            errors = [g["nme"] for g in got]
            means.append(np.mean(errors) * 100 if errors else float("nan"))
            cells.append(f"{means[-1]:.2f}")
            if mode != "mediapipe":
                maes.append(np.mean([abs(g["yaw"] + r["yaw"]) for r, g in zip(sel, got, strict=True)]))
        mae = " / ".join(f"{m:.1f}°" for m in maes) if maes else "–"
        lines.append(f"| {mode} | {' | '.join(cells)} | {np.mean(means):.2f} % | {misses} | {mae} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--per-bin", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--modes", default="full,fast", help="comma-separated from full,fast")
    parser.add_argument("--save", type=Path, help="also write the per-crop results as JSON")
    parser.add_argument("--split", default="dev", choices=["dev", "train"], help="train: for tuning (see above)")
    args = parser.parse_args()
    folder = args.shared / "faces/aflw_crops"
    modes = tuple(m for m in args.modes.split(",") if m)
    jobs = [(folder, row, modes) for row in sample_crops(folder / "labels.csv", args.per_bin, args.split)]
    with Pool(args.jobs) as pool:
        results = pool.map(evaluate, jobs, chunksize=4)
    if args.save:
        args.save.write_text(json.dumps(results, indent=1))
    print(f"AFLW {args.split}, {args.per_bin} crops per |yaw| bin, 21-point NME (%):\n")
    print(table(results, modes))


if __name__ == "__main__":
    main()
