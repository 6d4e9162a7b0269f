"""What the regressor and the GCN buy: landmark NME, profiles, fitting time, texture PSNR (speed:
benchmarks/speed.py).

    python benchmarks/regressor.py accuracy  [--every 1]       HELEN test + AFW (ground-truth boxes)
    python benchmarks/regressor.py coverage                    AFW faces found without ground-truth boxes
    python benchmarks/regressor.py fitting   [--every 3]       full fit from the regressor vs from the mean face
    python benchmarks/regressor.py profiles  --data DIR/samples.npz   held-out synthetic profiles

accuracy: 68-point NME of the fast path and of the full fit, as reconstruct_face gives them (the
texture at 64² to save time), per dataset and per yaw range of the full fit. coverage: the AFW faces
the landmark pipeline reads and those the regressor adds from detector boxes FaceMesh cannot read, per
yaw range. fitting: landmark + photometric fit started from the
regressor vs from the PnP pose of the mean face: time, NME, render PSNR in the face mask; and the GCN's
albedo against the coarse one in the same renders. profiles: on synthetic profiles made from HELEN test
(tools/make_regressor_data.py --split test), per true-yaw range: the share of faces MediaPipe reads,
and yaw error and NME of the landmark fit alone (old pipeline), the regressor and the fit started from it.
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

from facerecon.camera import (  # noqa: E402
    PerspectiveCamera,
    matrix_to_euler,
)
from facerecon.datasets import annotated_faces  # noqa: E402
from facerecon.detect import mediapipe_faces  # noqa: E402
from facerecon.io.image import load_image  # noqa: E402
from facerecon.metrics import bbox_of, nme  # noqa: E402
from facerecon.parameters import Appearance, FitResult  # noqa: E402
from facerecon.pipeline import Reconstructor, detect_faces  # noqa: E402
from facerecon.scene import FaceScene  # noqa: E402
from facerecon.texture.refine import refine_albedo  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from photometric import landmarks68, psnr  # noqa: E402

YAW_BINS = [(0, 30), (30, 60), (60, 91)]


def camera_of(pixels: np.ndarray) -> PerspectiveCamera:
    h, w = pixels.shape[:2]
    return PerspectiveCamera.for_image(w, h)


def accuracy(args: argparse.Namespace, reconstructor: Reconstructor) -> None:
    print("| set | faces | MediaPipe reads | reconstructed | yaw range | faces | NME fast | NME full |")
    print("|---|---|---|---|---|---|---|---|")
    for dataset in ("helen_test", "afw"):
        rows = []
        for path, truth in annotated_faces(args.shared / "faces" / dataset, args.every):
            loaded = load_image(path)
            faces = detect_faces(loaded.pixels, bbox=bbox_of(truth), keep_boxes=True)
            if not faces:
                rows.append(None)
                continue
            fast, full = (reconstructor.reconstruct_face(loaded, faces[0], fast=mode, texture_size=64)
                          for mode in (True, False))  # fmt: skip
            rows.append((faces[0].landmarks is not None, abs(full.pose["yaw"]), nme(fast.landmarks68, truth),
                         nme(full.landmarks68, truth)))  # fmt: skip
        done = [r for r in rows if r is not None]
        read = sum(r[0] for r in done)
        for low, high in [(0, 91), *YAW_BINS]:
            chosen = [r for r in done if low <= r[1] < high]
            if not chosen:
                continue
            fast_nme = np.mean([r[2] for r in chosen]) * 100
            full_nme = np.mean([r[3] for r in chosen]) * 100
            label = "all" if high - low > 90 else f"{low}–{min(high, 90)}°"
            print(f"| {dataset} | {len(rows)} | {read} | {len(done)} | {label} | {len(chosen)} | {fast_nme:.2f} % | "
                  f"{full_nme:.2f} % |")  # fmt: skip


def coverage(args: argparse.Namespace, reconstructor: Reconstructor) -> None:
    """AFW without ground-truth boxes: which annotated faces the detector + FaceMesh read (the landmark
    pipeline) and which the regressor adds from confident detector boxes; NME per yaw range."""
    fitter = reconstructor.landmark_fitter
    by_photo: dict[str, tuple[Path, list[np.ndarray]]] = {}  # AFW keeps a copy of the photo per face
    for path, truth in annotated_faces(args.shared / "faces/afw"):
        by_photo.setdefault(path.stem.rsplit("_", 1)[0], (path, []))[1].append(truth)
    rows = []
    for path, truths in by_photo.values():
        pixels = load_image(path).pixels
        camera = camera_of(pixels)
        faces = detect_faces(pixels, keep_boxes=True)
        for truth in truths:
            match = [f for f in faces if mediapipe_faces._contains(bbox_of(truth), f.bbox)]
            if not match:
                rows.append(("missed", np.nan, np.nan))
                continue
            face = match[0]
            fit = reconstructor.regressor(pixels, camera, landmarks=face.landmarks, box=face.bbox).fit
            if face.landmarks is not None:
                with torch.enable_grad():
                    fit = fitter.fit(face.landmarks, camera, start=fit)
            kind = "read" if face.landmarks is not None else "regressor"
            rows.append((kind, abs(matrix_to_euler(fit.rotation)[0]), nme(landmarks68(fitter, fit), truth)))
    print(f"AFW, {len(rows)} annotated faces in {len(by_photo)} photos, no ground-truth boxes\n")
    print(
        "| yaw range (ours) | read by FaceMesh (landmark pipeline) | added by the regressor alone | NME read | "
        "NME added |"
    )
    print("|---|---|---|---|---|")
    for low, high in [(0, 91), *YAW_BINS]:
        chosen = [r for r in rows if r[0] != "missed" and low <= r[1] < high]
        read = [r[2] for r in chosen if r[0] == "read"]
        added = [r[2] for r in chosen if r[0] == "regressor"]
        label = "all" if high - low > 90 else f"{low}–{min(high, 90)}°"
        print(f"| {label} | {len(read)} | {len(added)} | {np.mean(read) * 100 if read else np.nan:.2f} % | "
              f"{np.mean(added) * 100 if added else np.nan:.2f} % |")  # fmt: skip
    print(f"\nmissed by both: {sum(r[0] == 'missed' for r in rows)}")


def fitting(args: argparse.Namespace, reconstructor: Reconstructor) -> None:
    fitter, photometric = reconstructor.landmark_fitter, reconstructor.photometric_fitter
    model = reconstructor.model
    rows: dict[str, list[float]] = {k: [] for k in ("t_mean", "t_reg", "nme_mean", "nme_reg", "psnr_mean", "psnr_reg",
                                                     "psnr_gcn")}  # fmt: skip
    for path, truth in annotated_faces(args.shared / "faces/helen_test", args.every):
        pixels = load_image(path).pixels
        face = detect_faces(pixels, bbox=bbox_of(truth))[0]
        camera = camera_of(pixels)
        with torch.enable_grad():
            start = time.perf_counter()
            fit = fitter.fit(face.landmarks, camera)
            old, old_appearance = photometric.fit(pixels, face.landmarks, fit)
            middle = time.perf_counter()
            reading = reconstructor.regressor(pixels, camera, landmarks=face.landmarks, box=face.bbox)
            guess, guess_appearance = reading.fit, reading.appearance
            fit = fitter.fit(face.landmarks, camera, start=guess)
            new, new_appearance = photometric.fit(pixels, face.landmarks, fit, guess_appearance)
            end = time.perf_counter()
        new_scene = FaceScene.build(new, model)
        refined = Appearance(
            new_appearance.lighting, refine_albedo(reconstructor.gcn, pixels, new_scene, new_appearance)
        )
        rows["t_mean"].append(middle - start)
        rows["t_reg"].append(end - middle)
        rows["nme_mean"].append(nme(landmarks68(fitter, old), truth))
        rows["nme_reg"].append(nme(landmarks68(fitter, new), truth))
        rows["psnr_mean"].append(psnr(fitter, old, old_appearance, pixels))
        rows["psnr_reg"].append(psnr(fitter, new, new_appearance, pixels))
        rows["psnr_gcn"].append(psnr(fitter, new, refined, pixels))
    r = {k: np.array(v) for k, v in rows.items()}
    print(f"HELEN test, {len(r['t_mean'])} faces (ground-truth boxes), 2 threads\n")
    print("| full fit (landmark + photometric) | time per face (median) | NME | render PSNR in face mask |")
    print("|---|---|---|---|")
    print(f"| from the mean face (PnP pose) | {np.median(r['t_mean']) * 1000:.0f} ms | "
          f"{r['nme_mean'].mean() * 100:.2f} % | {r['psnr_mean'].mean():.2f} dB |")  # fmt: skip
    print(f"| from the regressor (its time included) | {np.median(r['t_reg']) * 1000:.0f} ms | "
          f"{r['nme_reg'].mean() * 100:.2f} % | {r['psnr_reg'].mean():.2f} dB |")  # fmt: skip
    print(f"| … with the GCN's albedo | | | {r['psnr_gcn'].mean():.2f} dB |")
    saving = 1 - np.median(r["t_reg"]) / np.median(r["t_mean"])
    print(f"\ntime saved: {saving * 100:.0f} %; GCN PSNR gain: {np.mean(r['psnr_gcn'] - r['psnr_reg']):.2f} dB "
          f"(better on {np.mean(r['psnr_gcn'] > r['psnr_reg']) * 100:.0f} % of faces)")  # fmt: skip


def profiles(args: argparse.Namespace, reconstructor: Reconstructor) -> None:
    fitter = reconstructor.landmark_fitter
    with np.load(args.data) as npz:
        data = {k: npz[k] for k in npz.files if not k.startswith("vertex_")}
    rows = []
    for i in range(len(data["image"])):
        pixels = data["image"][i]
        f, cx, cy = data["camera"][i]
        camera = PerspectiveCamera(f, cx, cy, pixels.shape[1], pixels.shape[0])
        truth_fit = FitResult(data["rotation"][i], data["translation"][i], data["identity"][i],
                              data["expression"][i], camera)  # fmt: skip
        truth = landmarks68(fitter, truth_fit)
        yaw = matrix_to_euler(truth_fit.rotation)[0]
        landmarks = np.column_stack([data["landmarks"][i], np.zeros(468)]) if data["has_landmarks"][i] else None
        guess = reconstructor.regressor(pixels, camera, landmarks=landmarks, box=data["box"][i]).fit
        row = {"yaw": yaw, "read": landmarks is not None, "reg": guess}
        if landmarks is not None:
            with torch.enable_grad():
                row["old"] = fitter.fit(landmarks, camera)
                row["new"] = fitter.fit(landmarks, camera, start=guess)
        rows.append({k: (v if not isinstance(v, FitResult) else (matrix_to_euler(v.rotation)[0] - yaw,
                                                                   nme(landmarks68(fitter, v), truth)))
                     for k, v in row.items()})  # fmt: skip
    print(f"{len(rows)} synthetic profiles from HELEN test (never trained on); yaw error = mean |fitted − true|\n")
    print(
        "| true yaw | faces | MediaPipe reads | landmark fit alone: yaw err / NME | regressor: yaw err / NME "
        "(all faces) | fit from regressor: yaw err / NME |"
    )
    print("|---|---|---|---|---|---|")
    for low, high in [(20, 45), (45, 60), (60, 75), (75, 91)]:
        chosen = [r for r in rows if low <= abs(r["yaw"]) < high]
        read = [r for r in chosen if r["read"]]

        def cell(key: str, subset: list[dict]) -> str:
            if not subset:
                return "–"
            return (f"{np.mean([abs(r[key][0]) for r in subset]):.1f}° / "
                    f"{np.mean([r[key][1] for r in subset]) * 100:.2f} %")  # fmt: skip

        print(f"| {low}–{min(high, 90)}° | {len(chosen)} | {len(read) / max(len(chosen), 1) * 100:.0f} % | "
              f"{cell('old', read)} | {cell('reg', chosen)} | {cell('new', read)} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["accuracy", "coverage", "fitting", "profiles"])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--every", type=int, default=None)
    parser.add_argument("--data", type=Path, help="held-out synthetic profiles (profiles)")
    args = parser.parse_args()
    args.every = args.every or {"accuracy": 1, "fitting": 3}.get(args.what, 1)
    torch.set_num_threads(2)
    jobs = {"accuracy": accuracy, "coverage": coverage, "fitting": fitting, "profiles": profiles}
    jobs[args.what](args, Reconstructor.shared())


if __name__ == "__main__":
    main()
