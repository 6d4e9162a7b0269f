"""Video: throughput, and how the One-Euro filter's settings trade lag (synthetic clip with known curves)
against jitter (a still photo rotated and zoomed, where nothing should move).

    python benchmarks/video.py

Throughput is the wall time of `facerecon video` and of `facerecon video --fast` (a fresh process each:
start-up, landmarks, fits, every output file) on a 640×480 clip of 300 frames of a talking face (our model
with the sample's texture, the jaw and smile animated), as a user sees it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import facerecon  # noqa: E402
from facerecon.model.face_model import FaceModel, load_face_model  # noqa: E402
from facerecon.reconstruction import Reconstruction  # noqa: E402
from facerecon.synthetic import ANIMATED, SAMPLE_FACE_CENTRE, animated_clip, example_curves, still_clip  # noqa: E402
from facerecon.video import BETA, MIN_CUTOFF, jitter, one_euro, reconstruct_video  # noqa: E402

FPS = 25.0
CLIP_FRAMES = 300


def main() -> None:
    torch.set_num_threads(2)
    model = load_face_model()
    sample = ROOT / "src/facerecon/data/astronaut.jpg"
    textured = facerecon.reconstruct(sample, photometric=False)[0]
    truth = example_curves(model.expression_names)
    synthetic = reconstruct_video(animated_clip(model, textured, truth), FPS, smoothing=False)
    still_frames = still_clip(np.asarray(Image.open(sample).convert("RGB")), SAMPLE_FACE_CENTRE, 48)
    start = time.perf_counter()
    still = reconstruct_video(still_frames, FPS, smoothing=False)
    fps = len(still_frames) / (time.perf_counter() - start)
    columns = [model.expression_names.index(n) for n in ANIMATED]

    full, fast = cli_throughput(model, textured)
    print(
        f"throughput: {full:.1f} frames/s of wall time (`facerecon video`, a 640×480 clip of {CLIP_FRAMES} "
        f"frames, 2 cores), {fast:.1f} with --fast; in process, the 48-frame still clip: {fps:.1f} frames/s\n"
    )
    print(
        "| One-Euro min cutoff (Hz) | beta | correlation with truth (jawOpen, smiles) | still clip: max std | "
        "still clip: jitter |"
    )
    print("|---|---|---|---|---|")
    print(
        f"| none (independent fits) | – | {_corr(truth, synthetic.expression_raw, columns)} | "
        f"{still.expression_raw.std(0).max():.4f} | {jitter(still.expression_raw):.5f} |"
    )
    for min_cutoff in (1.0, 2.0):
        for beta in (0.8, 3.0, 10.0, 30.0):
            chosen = " (default)" if (min_cutoff, beta) == (MIN_CUTOFF, BETA) else ""
            smooth_synthetic = np.clip(one_euro(synthetic.expression_raw, FPS, min_cutoff, beta), 0, 1)
            smooth_still = np.clip(one_euro(still.expression_raw, FPS, min_cutoff, beta), 0, 1)
            print(
                f"| {min_cutoff}{chosen} | {beta} | {_corr(truth, smooth_synthetic, columns)} | "
                f"{smooth_still.std(0).max():.4f} | {jitter(smooth_still):.5f} |"
            )


def cli_throughput(model: FaceModel, textured: Reconstruction) -> tuple[float, float]:
    """Frames per second of wall time of the CLI on a 640×480 talking-face clip, by default and --fast."""
    import imageio.v2 as imageio

    weights = example_curves(model.expression_names, frames=CLIP_FRAMES)
    frames = [
        cv2.copyMakeBorder(f, 0, 0, 80, 80, cv2.BORDER_REPLICATE) for f in animated_clip(model, textured, weights, 480)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "talking.mp4"
        imageio.mimwrite(clip, frames, fps=FPS, quality=8, macro_block_size=16)
        rates = []
        for options in ([], ["--fast"]):
            start = time.perf_counter()
            command = [sys.executable, "-m", "facerecon", "video", *options, str(clip), "-o", str(Path(tmp) / "out")]
            subprocess.run(command, check=True, capture_output=True)
            rates.append(CLIP_FRAMES / (time.perf_counter() - start))
        return rates[0], rates[1]


def _corr(truth: np.ndarray, estimate: np.ndarray, columns: list[int]) -> str:
    return ", ".join(f"{np.corrcoef(truth[:, c], estimate[:, c])[0, 1]:.3f}" for c in columns)


if __name__ == "__main__":
    main()
