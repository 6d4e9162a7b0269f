"""What a face costs, as ratios to MediaPipe FaceMesh alone in the same process, and what a photo's size costs.

    python benchmarks/speed.py [--shared ../shared] [--photos 20] [--sizes]

1. On the first N HELEN test photos (one face each; one warm-up photo first), 2 threads, medians per face:
   FaceMesh alone on the crop our detection step gives it; reconstruct(fast=True) and reconstruct() end to end
   in memory (1024² texture, overlay and render included); save() of the default formats; and the stages.
2. --sizes: the CLI (`facerecon reconstruct`, default mode, a fresh process each) under /usr/bin/time -v on one
   HELEN photo upscaled to 1, 12 and 48 MP: wall time and peak memory, as a user with a phone photo sees them.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import facerecon  # noqa: E402
from facerecon.camera import CropWindow  # noqa: E402
from facerecon.datasets import annotated_faces  # noqa: E402
from facerecon.detect import mediapipe_faces  # noqa: E402
from facerecon.io.image import load_image  # noqa: E402

STAGES = ["detect_s", "regressor_s", "fit_s", "photometric_s", "scene_s", "gcn_s", "texture_s", "overlay_s", "parts_s"]
SIZES = {"1 MP (1152×864)": (1152, 864), "12 MP (4032×3024)": (4032, 3024), "48 MP (8000×6000)": (8000, 6000)}
SIZE_SOURCE = "3065355522_1.jpg"  # a 640×491 HELEN test photo, cropped to 4:3 before upscaling


def facemesh_alone(pixels: np.ndarray, bbox: np.ndarray) -> float:
    """Seconds of FaceMesh on the crop our detection step gives it."""
    side = max(bbox[2] - bbox[0], bbox[3] - bbox[1]) * mediapipe_faces.CROP_SCALE
    window = CropWindow.around(bbox, max(mediapipe_faces.CROP_MIN_SIDE, round(side)), mediapipe_faces.CROP_SCALE)
    crop = window.warp(pixels)
    start = time.perf_counter()
    facerecon.Reconstructor.shared().detector.facemesh(crop, max_faces=1)
    return time.perf_counter() - start


def per_face(photos: list[Path]) -> None:
    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as out:
        for k, photo in enumerate(photos):
            pixels = load_image(photo).pixels
            times = {}
            start = time.perf_counter()
            fast = facerecon.reconstruct(pixels, max_faces=1, fast=True)[0]
            times["fast"] = time.perf_counter() - start
            start = time.perf_counter()
            full = facerecon.reconstruct(pixels, max_faces=1)[0]
            times["full"] = time.perf_counter() - start
            start = time.perf_counter()
            full.save(out, photo.stem)
            times["save"] = time.perf_counter() - start
            times["facemesh"] = facemesh_alone(pixels, full.bbox)
            times |= {f"fast {k}": v for k, v in fast.fit_stats["timings"].items()}
            times |= {f"full {k}": v for k, v in full.fit_stats["timings"].items()}
            if k == 0:
                continue  # warm-up: model, nets, MediaPipe graphs, the UV raster
            for key, value in times.items():
                rows.setdefault(key, []).append(value)
    med = {key: float(np.median(v)) * 1000 for key, v in rows.items()}
    print(f"{len(photos) - 1} HELEN test photos, 2 threads, median ms per face\n")
    print("| step | median ms | × FaceMesh alone |")
    print("|---|---|---|")
    for key, name in (("facemesh", "MediaPipe FaceMesh alone (on its crop)"),
                      ("fast", "reconstruct(fast=True), end to end in memory"),
                      ("full", "reconstruct() (landmark + photometric fit), end to end in memory"),
                      ("save", "save() of the default formats")):  # fmt: skip
        print(f"| {name} | {med[key]:.0f} | {med[key] / med['facemesh']:.1f} |")
    print("\n| stage | fast ms | default ms |")
    print("|---|---|---|")
    for stage in STAGES:
        fast, full = med.get(f"fast {stage}"), med.get(f"full {stage}")
        print(f"| {stage[:-2]} | {'–' if fast is None else f'{fast:.0f}'} | {'–' if full is None else f'{full:.0f}'} |")


def photo_sizes(shared: Path) -> None:
    source = load_image(shared / "faces/helen_test" / SIZE_SOURCE).pixels
    h, w = source.shape[:2]
    width = min(w, h * 4 // 3)
    source = source[(h - width * 3 // 4) // 2 :, (w - width) // 2 :][: width * 3 // 4, :width]
    print("\n| photo | wall s | peak memory GB |  (CLI, default mode, a fresh process each)")
    print("|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, size in SIZES.items():
            photo = Path(tmp) / f"photo_{size[0]}.jpg"
            big = cv2.resize(source, size, interpolation=cv2.INTER_CUBIC)
            cv2.imwrite(str(photo), cv2.cvtColor(big, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
            del big
            command = ["/usr/bin/time", "-v", sys.executable, "-m", "facerecon", "reconstruct", str(photo),
                       "-o", str(Path(tmp) / f"out_{size[0]}")]  # fmt: skip
            report = subprocess.run(command, capture_output=True, text=True, check=True).stderr
            wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\d+):([\d.]+)", report)
            rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
            seconds = int(wall[1]) * 60 + float(wall[2])
            print(f"| {name} | {seconds:.1f} | {int(rss[1]) / 1e6:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--photos", type=int, default=20)
    parser.add_argument("--sizes", action="store_true", help="also the 1 / 12 / 48 MP photos through the CLI")
    args = parser.parse_args()
    torch.set_num_threads(2)
    per_face([p for p, _ in annotated_faces(args.shared / "faces/helen_test")][: args.photos + 1])
    if args.sizes:
        photo_sizes(args.shared)


if __name__ == "__main__":
    main()
