"""What the photometric stage buys: render PSNR in the face mask and landmark NME, with and without it.

    python benchmarks/photometric.py [--shared ../shared] [--every 3]

On HELEN test (ground-truth boxes), three renders of each face are compared with the photo inside the
skin mask (68-landmark polygons less eyes, brows and mouth, where the render covers):
  landmarks only      landmark-fit shape, the skin's mean colour, ambient light (no photometric stage)
  + appearance        landmark-fit shape, least-squares SH lighting and albedo (the stage's first step)
  full photometric    the whole stage: lighting, albedo, identity, expression and pose refined together
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

from facerecon.camera import PerspectiveCamera  # noqa: E402
from facerecon.datasets import annotated_faces  # noqa: E402
from facerecon.fit.landmark_fit import FaceParameters, LandmarkFitter  # noqa: E402
from facerecon.fit.skin_mask import skin_mask  # noqa: E402
from facerecon.io.image import load_image  # noqa: E402
from facerecon.metrics import bbox_of, masked_psnr, nme  # noqa: E402
from facerecon.parameters import Appearance, FitResult  # noqa: E402
from facerecon.pipeline import Reconstructor  # noqa: E402
from facerecon.render.shade import AMBIENT  # noqa: E402
from facerecon.scene import FaceScene  # noqa: E402


def landmarks68(fitter: LandmarkFitter, fit: FitResult) -> np.ndarray:
    return fitter.landmarks68(fit, fit.model_vertices(fitter.model))[:, :2]


def psnr(fitter: LandmarkFitter, fit: FitResult, appearance: Appearance, photo: np.ndarray) -> float:
    rgba = FaceScene.build(fit, fitter.model).render_in_photo(appearance)
    h, w = photo.shape[:2]
    mask = skin_mask(landmarks68(fitter, fit), h, w) & (rgba[..., 3] > 127)
    return masked_psnr(rgba[..., :3], photo, mask)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--every", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    reconstructor = Reconstructor.shared()
    model, landmark_fitter = reconstructor.model, reconstructor.landmark_fitter
    photometric = reconstructor.photometric_fitter
    rows: dict[str, list[float]] = {
        k: [] for k in ("nme_lm", "nme_full", "psnr_flat", "psnr_app", "psnr_full", "t_lm", "t_full")
    }
    for photo_path, truth in annotated_faces(args.shared / "faces/helen_test", args.every):
        photo = load_image(photo_path).pixels
        face = reconstructor.detector.detect(photo, bbox=bbox_of(truth))[0]
        h, w = photo.shape[:2]
        start = time.perf_counter()
        fit = landmark_fitter.fit(face.landmarks, PerspectiveCamera.for_image(w, h))
        rows["t_lm"].append(time.perf_counter() - start)
        full, appearance = photometric.fit(photo, face.landmarks, fit)
        rows["t_full"].append(time.perf_counter() - start)

        mask = skin_mask(landmarks68(landmark_fitter, fit), h, w)
        mean_colour = photo[mask].mean(0) / 255.0 if mask.any() else np.full(3, 0.5)
        flat = Appearance(AMBIENT.numpy().astype(np.float64), np.tile(mean_colour, (model.n_vertices, 1)))
        params = FaceParameters.start(fit.rotation, fit.translation, fit.identity, fit.expression)
        lighting, coeffs = photometric.solve_appearance(params, photometric.crop(photo, fit))
        first_step = Appearance(lighting.numpy(), (photometric.basis @ coeffs).clamp(0, 1).numpy())

        rows["nme_lm"].append(nme(landmarks68(landmark_fitter, fit), truth))
        rows["nme_full"].append(nme(landmarks68(landmark_fitter, full), truth))
        rows["psnr_flat"].append(psnr(landmark_fitter, fit, flat, photo))
        rows["psnr_app"].append(psnr(landmark_fitter, fit, first_step, photo))
        rows["psnr_full"].append(psnr(landmark_fitter, full, appearance, photo))
    r = {k: np.array(v) for k, v in rows.items()}
    n = len(r["nme_lm"])
    print(f"HELEN test, {n} faces, 2 threads\n")
    print("| stage | render PSNR in face mask (mean / min) | landmark NME | time per face (median) |")
    print("|---|---|---|---|")
    print(
        f"| landmarks only | {r['psnr_flat'].mean():.2f} / {r['psnr_flat'].min():.2f} dB | "
        f"{r['nme_lm'].mean() * 100:.2f} % | {np.median(r['t_lm']) * 1000:.0f} ms |"
    )
    print(
        f"| + least-squares appearance | {r['psnr_app'].mean():.2f} / {r['psnr_app'].min():.2f} dB | "
        f"{r['nme_lm'].mean() * 100:.2f} % | – |"
    )
    print(
        f"| full photometric | {r['psnr_full'].mean():.2f} / {r['psnr_full'].min():.2f} dB | "
        f"{r['nme_full'].mean() * 100:.2f} % | {np.median(r['t_full']) * 1000:.0f} ms |"
    )


if __name__ == "__main__":
    main()
