"""Per-stage times of the full pipeline (load, detect, regressor, fits, GCN, textures, overlay, save).

    python benchmarks/speed.py [--shared ../shared] [--photos 20]

Runs on the first N HELEN test photos (one face each, detector-found) after one warm-up photo, on 2
threads, and prints median and 90th-percentile milliseconds per stage.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import facerecon  # noqa: E402
from facerecon.datasets import annotated_faces  # noqa: E402

STAGES = ["load_s", "detect_s", "regressor_s", "fit_s", "photometric_s", "gcn_s", "texture_s", "overlay_s", "save_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--photos", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(2)
    photos = [p for p, _ in annotated_faces(args.shared / "faces/helen_test")][: args.photos + 1]
    facerecon.reconstruct(photos[0], max_faces=1)  # warm-up: model load, MediaPipe graphs, UV raster
    rows: dict[str, list[float]] = {s: [] for s in [*STAGES, "total_s"]}
    with tempfile.TemporaryDirectory() as out:
        for photo in photos[1:]:
            start = time.perf_counter()
            face = facerecon.reconstruct(photo, max_faces=1)[0]
            saved = time.perf_counter()
            face.save(out, photo.stem)
            timings = face.fit_stats["timings"] | {"save_s": time.perf_counter() - saved}
            timings["total_s"] = time.perf_counter() - start
            for stage, seconds in timings.items():
                rows[stage].append(seconds)
    print(f"| stage | median ms | p90 ms |  ({len(photos) - 1} HELEN photos, 1024² textures, 2 threads)")
    print("|---|---|---|")
    for stage, values in rows.items():
        print(f"| {stage[:-2]} | {np.median(values) * 1000:.0f} | {np.percentile(values, 90) * 1000:.0f} |")


if __name__ == "__main__":
    main()
