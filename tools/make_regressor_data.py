"""Build the regressor's training set from ../shared: pseudo-labels from our own fit, plus synthetic profiles.

    python tools/make_regressor_data.py --out ~/.cache/facerecon/train [--aflw 5000] [--workers 2]
    python tools/make_regressor_data.py --split test --out ~/.cache/facerecon/test   # held-out profiles

Real samples (--split train: helen_train with its boxes + the first --aflw AFLW crops): MediaPipe's
landmarks -> our landmark fit -> least-squares lighting and albedo (the photometric stage's closed-form
step). Each also yields one synthetic sample ("face profiling", as 300W-LP): the fitted head, painted with
the colours the photo shows (mirrored where hidden), turned to a random yaw out to 90 degrees and
rendered over another photo; MediaPipe runs on the render, so the set holds the landmarks (or their
absence) that inference would see, with the known parameters as labels. --split test makes synthetic
profiles from helen_test only (never trained on). Deterministic for a given seed. ~0.3 s per photo per
worker.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from facerecon.camera import (  # noqa: E402
    CropWindow,
    PerspectiveCamera,
    euler_to_matrix,
    matrix_to_euler,
)
from facerecon.datasets import annotated_faces  # noqa: E402
from facerecon.fit.landmark_fit import FaceParameters  # noqa: E402
from facerecon.io.image import load_image  # noqa: E402
from facerecon.metrics import bbox_of  # noqa: E402
from facerecon.model.surface import surface_points, vertex_normals  # noqa: E402
from facerecon.nets.codec import face_anchor  # noqa: E402
from facerecon.nets.regressor import CROP_MARGIN, N_LANDMARKS  # noqa: E402
from facerecon.parameters import FitResult  # noqa: E402
from facerecon.pipeline import Reconstructor, detect_faces  # noqa: E402
from facerecon.render.render import Surface, render  # noqa: E402
from facerecon.render.shade import sh_shade  # noqa: E402
from facerecon.scene import FaceScene  # noqa: E402
from facerecon.texture.vertex_colors import sample_vertex_colors  # noqa: E402

STORE_SIZE = 160  # pixels of the stored crop, which holds context for the training crop's jitter
STORE_CONTEXT = 1.3  # stored window / the regressor's window
SYNTH_SIZE = 256  # pixels of a synthetic photo
SYNTH_FOCAL_35MM = 50.0


def work_items(shared: Path, split: str, n_aflw: int) -> list[tuple[str, list[float] | None]]:
    """(photo, face box or None) per real photo."""
    faces = shared / "faces"
    folder = faces / ("helen_train" if split == "train" else "helen_test")
    items = [(str(photo), [float(v) for v in bbox_of(pts)]) for photo, pts in annotated_faces(folder)]
    if split == "train":
        items += [(str(p), None) for p in sorted((faces / "aflw_crops").glob("*.jpg"))[:n_aflw]]
    return items


def process(job: tuple[int, str, list[float] | None, list[str], int, bool]) -> list[dict]:
    """The real sample (unless synthetic_only) and one synthetic profile of one photo; [] if no face."""
    index, photo, box, backgrounds, seed, synthetic_only = job
    rng = np.random.default_rng([seed, index])
    reconstructor = Reconstructor.shared()  # one per worker process
    model = reconstructor.model
    loaded = load_image(photo)
    faces = detect_faces(loaded.pixels, bbox=box, max_faces=1)
    if not faces:
        return []
    h, w = loaded.pixels.shape[:2]
    camera = PerspectiveCamera.for_image(w, h, loaded.focal_35mm)
    fit = reconstructor.landmark_fitter.fit(faces[0].landmarks, camera)
    photometric = reconstructor.photometric_fitter
    params = FaceParameters.start(fit.rotation, fit.translation, fit.identity, fit.expression)
    lighting, coefficients = (t.numpy().astype(np.float64) for t in
                              photometric.solve_appearance(params, photometric.crop(loaded.pixels, fit)))  # fmt: skip
    vertices = fit.model_vertices(model)
    colors, shown = sample_vertex_colors(loaded.pixels, FaceScene.build(fit, model))
    samples = []
    if not synthetic_only:
        sample = stored_sample(loaded.pixels, faces[0].landmarks, fit, model)
        nf = model.n_face_vertices
        sample |= {"lighting": lighting, "albedo": coefficients, "has_appearance": True,
                   "vertex_colors": colors[:nf].astype(np.float16), "vertex_shown": shown[:nf]}  # fmt: skip
        samples.append(sample)
    albedo = np.clip(model.albedo_basis.numpy().T @ coefficients, 0, 1)
    samples.append(synthetic_profile(fit, vertices, colors, shown, albedo, lighting, backgrounds, rng))
    return [s for s in samples if s is not None]


def stored_sample(pixels: np.ndarray, landmarks: np.ndarray | None, fit: FitResult, model) -> dict:
    """The stored crop around the face (MediaPipe's box when it found the face, else the label's), its
    camera, and the labels."""
    vertices = fit.model_vertices(model)
    projected = fit.to_screen(surface_points(vertices, model.faces, model.mediapipe.tri, model.mediapipe.bary))
    points = landmarks[:N_LANDMARKS, :2] if landmarks is not None else projected[:, :2]
    window = CropWindow.around(bbox_of(points), STORE_SIZE, CROP_MARGIN * STORE_CONTEXT)
    crop_camera = window.camera(fit.camera)
    return {
        "image": window.warp(pixels),
        "camera": np.array([crop_camera.focal, crop_camera.cx, crop_camera.cy]),
        "box": bbox_of(window.to_crop(points)),
        "landmarks": window.to_crop(points).astype(np.float32),
        "has_landmarks": landmarks is not None,
        "rotation": fit.rotation,
        "translation": fit.translation,
        "identity": fit.identity,
        "expression": fit.expression,
        "lighting": np.zeros((9, 3)),
        "albedo": np.zeros((model.albedo_basis.shape[0], 3)),
        "has_appearance": False,
        "yaw": matrix_to_euler(fit.rotation)[0],
    }


def synthetic_profile(
    fit: FitResult,
    vertices: np.ndarray,
    colors: np.ndarray,
    shown: np.ndarray,
    albedo: np.ndarray,
    lighting: np.ndarray,
    backgrounds: list[str],
    rng: np.random.Generator,
) -> dict | None:
    """The fitted head turned to a random yaw (|yaw| 20-90 degrees) and rendered over a random photo."""
    model = Reconstructor.shared().model
    # Paint: the photo's colour where shown, else the mirror vertex's, else the fitted albedo x lighting.
    camera_vertices = fit.to_camera(vertices)
    with torch.no_grad():
        normals = vertex_normals(torch.from_numpy(camera_vertices).float(), torch.from_numpy(model.faces))
        lit = sh_shade(torch.from_numpy(albedo).float(), normals, torch.from_numpy(lighting).float()).numpy()
    paint = np.where(shown[:, None], colors, np.where(shown[model.mirror][:, None], colors[model.mirror], lit))

    yaw = rng.choice([-1, 1]) * rng.uniform(20, 90)
    pitch, roll = rng.normal(0, 10), rng.normal(0, 10)
    rotation = euler_to_matrix(yaw, pitch, roll)
    camera = PerspectiveCamera.for_image(SYNTH_SIZE, SYNTH_SIZE, SYNTH_FOCAL_35MM)
    face_px = rng.uniform(80, 140)  # width of the face in the render
    depth = camera.focal * 15.0 / face_px
    offset = rng.uniform(-0.12, 0.12, 2) * depth * SYNTH_SIZE / camera.focal
    translation = np.array([offset[0], offset[1], -depth]) - rotation @ face_anchor(model)
    posed = FitResult(rotation, translation, fit.identity, fit.expression, camera, {})
    with torch.no_grad():
        out = render(torch.from_numpy(posed.to_camera(vertices)).float(), torch.from_numpy(model.faces), camera,
                     Surface(vertex_colors=torch.from_numpy(paint).float()))  # fmt: skip
    rgb, alpha = out.rgb.numpy(), out.alpha.clamp(0, 1).numpy()[..., None]
    background = synthetic_background(backgrounds, rng)
    picture = np.clip((rgb * alpha + background * (1 - alpha)) * 255 + rng.normal(0, 2, rgb.shape), 0, 255)
    picture = picture.astype(np.uint8)
    found = detect_faces(picture, max_faces=1)
    sample = stored_sample(picture, found[0].landmarks if found else None, posed, model)
    return sample | {"synthetic": True}


def synthetic_background(backgrounds: list[str], rng: np.random.Generator) -> np.ndarray:
    """(S, S, 3) float in [0, 1]: another photo upside down, blurred past recognition, under a colour
    gradient (so MediaPipe never finds a face in it)."""
    photo = load_image(backgrounds[rng.integers(len(backgrounds))]).pixels[::-1]
    photo = CropWindow(0, 0, min(photo.shape[:2]), SYNTH_SIZE).warp(np.ascontiguousarray(photo))
    photo = cv2.GaussianBlur(photo, (0, 0), rng.uniform(3, 8)).astype(np.float32) / 255
    ramp = np.linspace(0, 1, SYNTH_SIZE, dtype=np.float32)[:, None, None]
    tint = rng.uniform(0, 1, 3).astype(np.float32) * ramp + rng.uniform(0, 1, 3).astype(np.float32) * (1 - ramp)
    return np.clip(0.6 * photo + 0.4 * tint, 0, 1)


def collect(samples: list[dict]) -> dict[str, np.ndarray]:
    """Stack a list of per-sample dicts; GCN vertex data only over the real samples that have it."""
    out: dict[str, np.ndarray] = {}
    keys = {k for s in samples for k in s}
    for key in sorted(keys - {"vertex_colors", "vertex_shown", "synthetic"}):
        out[key] = np.stack([np.asarray(s[key]) for s in samples])
    out["synthetic"] = np.array([bool(s.get("synthetic", False)) for s in samples])
    real = [s for s in samples if "vertex_colors" in s]
    if real:
        out["vertex_index"] = np.array([i for i, s in enumerate(samples) if "vertex_colors" in s])
        out["vertex_colors"] = np.stack([s["vertex_colors"] for s in real])
        out["vertex_shown"] = np.stack([s["vertex_shown"] for s in real])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--split", choices=["train", "test"], default="train")
    parser.add_argument("--aflw", type=int, default=5000, help="how many AFLW crops (train split)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    items = work_items(args.shared, args.split, args.aflw)
    backgrounds = [str(p) for p in sorted((args.shared / "faces" / "aflw_crops").glob("*.jpg"))[-2000:]]
    synthetic_only = args.split == "test"
    jobs = [(i, photo, box, backgrounds, args.seed, synthetic_only) for i, (photo, box) in enumerate(items)]
    start, samples = time.perf_counter(), []
    with multiprocessing.get_context("spawn").Pool(args.workers, initializer=_init_worker) as pool:
        for i, result in enumerate(pool.imap(process, jobs, chunksize=4)):
            samples += result
            if i % 200 == 0:
                print(
                    f"{i}/{len(jobs)} photos, {len(samples)} samples, {time.perf_counter() - start:.0f} s", flush=True
                )
    args.out.mkdir(parents=True, exist_ok=True)
    data = collect(samples)
    np.savez(args.out / "samples.npz", **data)
    print(f"{len(samples)} samples ({int(data['synthetic'].sum())} synthetic) from {len(items)} photos "
          f"in {time.perf_counter() - start:.0f} s -> {args.out / 'samples.npz'}")  # fmt: skip


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


if __name__ == "__main__":
    main()
