"""Batch throughput: photos per second with 1 and 2 workers, fast (regressor, no optimisation) and full mode.

    python benchmarks/batch.py [--shared ../shared] [--photos 12]

Each configuration starts from an empty output folder, so worker start-up (importing torch and
MediaPipe, about 3 s) is included, as a user would see it; "per photo" is each worker's median time per
photo once started, and workers / that, the rate a long batch approaches.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from facerecon.batch import run_batch  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--photos", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        photos = Path(tmp) / "photos"
        photos.mkdir()
        for jpg in sorted((args.shared / "faces/helen_test").glob("*.jpg"))[: args.photos]:
            shutil.copy(jpg, photos)
        print(f"| mode | workers | photos/s | per photo, s | workers / per photo |  ({args.photos} HELEN photos, "
              "2 cores, outputs obj,glb,json)")  # fmt: skip
        print("|---|---|---|---|---|")
        for fast in (True, False):
            for workers in (1, 2):
                out = Path(tmp) / f"out_{fast}_{workers}"
                start = time.perf_counter()
                result = run_batch(photos, out, workers=workers, fast=fast, progress=False)
                seconds = time.perf_counter() - start
                assert not result.failed, result.failed
                each = float(np.median([record.seconds for record in result.processed]))
                print(f"| {'fast' if fast else 'full'} | {workers} | {args.photos / seconds:.2f} | {each:.2f} | "
                      f"{workers / each:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
