"""Fine-tune the shipped regressor on AFLW's labelled train crops: real large poses, real landmarks.

    python tools/finetune_regressor_aflw.py prepare --work DIR [--shared ../shared] [--limit N]
    python tools/finetune_regressor_aflw.py train   --work DIR [--epochs 5]   (resumes from DIR/state.pt)

prepare: for each `split=train` crop of ../shared/faces/aflw_crops (never `dev`), MediaPipe's landmarks as
the pipeline finds them with the crop as the box (or none), and the shipped regressor's own output (the
teacher) -> DIR/aflw_train.npz. train: the regressor's projected 68 points, taken to AFLW's 21 by
3DDFA's mapping, against the annotated (visible) points, with the crop's box jittered and landmarks
dropped for some samples as in the main training; AFLW's yaw as a weak term; identity, expression and
appearance held near the teacher's (distillation), so the texture and shape the GCN and the fit were
built on stay as they were. Each epoch is checkpointed (optimizer included) and the run resumes from it;
the end writes src/facerecon/nets/data/regressor.pt and .onnx. Half the training crops are mirrored (the
21 labels swap sides, MediaPipe's points follow the model's left/right symmetry, yaw changes sign; the
teacher's outputs are not mirrored, so those crops skip the distillation).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.spatial import cKDTree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from facerecon.camera import CropWindow, PerspectiveCamera  # noqa: E402
from facerecon.datasets import aflw_points  # noqa: E402
from facerecon.io.image import load_image  # noqa: E402
from facerecon.metrics import AFLW21_EARS, aflw21_weights  # noqa: E402
from facerecon.model.face_model import load_face_model  # noqa: E402
from facerecon.nets.codec import face_anchor  # noqa: E402
from facerecon.nets.pretrained import REGRESSOR_WEIGHTS, export_onnx, load_regressor, regressor_input  # noqa: E402
from facerecon.nets.regressor import (  # noqa: E402
    CROP_SIZE,
    SLICES,
    FaceRegressor,
    rotation_from_6d,
)
from facerecon.nets.training import Batch, projected_points  # noqa: E402
from facerecon.pipeline import detect_faces  # noqa: E402

CROP = 120
BATCH = 32
LEARNING_RATE = 3e-4
SHIFT_JITTER, SCALE_JITTER, LANDMARK_DROPOUT = 0.05, 0.08, 0.3
YAW_WEIGHT = 0.5  # per radian², beside the landmark NME (1.0 = 100 %): 10° weighs as 1.5 % NME
DISTILL_WEIGHT = 0.05  # per normalised squared unit of identity, expression and appearance
HELD_OUT_EVERY = 20  # every 20th train crop is held out: the set benchmarks/aflw21.py --split train tunes on
# The 21 points' mirror images (0-based): brows, eyes, ears, nose wings and mouth corners swap sides.
AFLW21_MIRROR = np.array([5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 16, 15, 14, 13, 12, 19, 18, 17, 20])


@dataclass
class Labels:
    points: torch.Tensor  # (B, 21, 2) crop pixels of the 120² crop, -1 where not annotated
    yaw: torch.Tensor  # (B,) radians, our sign
    teacher: torch.Tensor  # (B, N_OUTPUTS) the shipped network's normalised outputs
    teach: torch.Tensor  # (B,) bool: the teacher's outputs apply (the crop is not mirrored)


def mediapipe_mirror(model) -> np.ndarray:
    """(468,) for each MediaPipe point, the point at its mirror image on the model's mean face."""
    points = model.embedded(model.mediapipe).mean.numpy()
    return cKDTree(points).query(points * np.array([-1.0, 1.0, 1.0]))[1]


def aflw21_matrix() -> torch.Tensor:
    """(21, 68) averaging weights of 3DDFA's mapping; the ears' rows are zero: they slide with the pose."""
    weights = torch.from_numpy(aflw21_weights()).float()
    weights[list(AFLW21_EARS)] = 0.0
    return weights


def prepare(args: argparse.Namespace) -> None:
    folder = args.shared / "faces/aflw_crops"
    rows = [r for r in csv.DictReader((folder / "labels.csv").open()) if r["split"] == "train"][: args.limit]
    torch.set_num_threads(2)
    net = load_regressor()
    images, landmarks, has, points, yaw, teacher = [], [], [], [], [], []
    start = time.perf_counter()
    for k, row in enumerate(rows):
        pixels = load_image(folder / row["name"]).pixels
        faces = detect_faces(pixels, bbox=[0, 0, CROP, CROP])
        lm = faces[0].landmarks if faces else None
        inputs = regressor_input(pixels, lm, np.array([0, 0, CROP, CROP], dtype=np.float64))
        with torch.no_grad():
            teacher.append(net.normalised(*(torch.from_numpy(a) for a in inputs.arrays().values()))[0].numpy())
        images.append(pixels)
        landmarks.append(lm[:468, :2] if lm is not None else np.zeros((468, 2)))
        has.append(lm is not None)
        points.append(aflw_points(row))
        yaw.append(-float(row["yaw"]))  # AFLW's yaw sign is the opposite of ours
        if k % 500 == 0:
            print(f"{k}/{len(rows)} ({time.perf_counter() - start:.0f} s)", flush=True)
    args.work.mkdir(parents=True, exist_ok=True)
    np.savez(args.work / "aflw_train.npz", image=np.stack(images), landmarks=np.stack(landmarks).astype(np.float32),
             has_landmarks=np.array(has), points=np.stack(points).astype(np.float32), yaw=np.array(yaw),
             teacher=np.stack(teacher).astype(np.float32))  # fmt: skip
    print(f"{len(rows)} crops, {np.mean(has) * 100:.0f} % with landmarks -> {args.work / 'aflw_train.npz'}")


def make_batch(
    data: dict, indices: np.ndarray, rng: np.random.Generator | None, mirror: np.ndarray | None = None
) -> tuple[Batch, Labels]:
    """Jittered crops (rng given; half mirrored when `mirror`, MediaPipe's mirror permutation, is given)
    or plain ones (rng None), and their labels."""
    photo = PerspectiveCamera.for_image(CROP, CROP)
    images, points, flags, cameras, truths, yaws, flips = [], [], [], [], [], [], []
    for i in indices:
        with_landmarks = bool(data["has_landmarks"][i]) and not (rng is not None and rng.random() < LANDMARK_DROPOUT)
        image, lm = data["image"][i], data["landmarks"][i].astype(np.float64)
        truth, yaw = data["points"][i].astype(np.float64), float(data["yaw"][i])
        flip = rng is not None and mirror is not None and rng.random() < 0.5
        if flip:
            image, lm = image[:, ::-1], np.column_stack([CROP - lm[mirror, 0], lm[mirror, 1]])
            truth = np.where(truth >= 0, np.column_stack([CROP - 1 - truth[:, 0], truth[:, 1]]), -1)[AFLW21_MIRROR]
            yaw = -yaw
        box = np.r_[lm.min(0), lm.max(0)] if with_landmarks else np.array([0, 0, CROP, CROP], dtype=np.float64)
        margin = 1.3
        if rng is not None:
            side = box[2] - box[0]
            box = box + np.tile(rng.uniform(-SHIFT_JITTER, SHIFT_JITTER, 2) * side, 2)
            margin *= 1 + rng.uniform(-SCALE_JITTER, SCALE_JITTER)
        window = CropWindow.around(box, CROP_SIZE, margin)
        camera = window.camera(photo)
        images.append(window.warp(np.ascontiguousarray(image)))
        points.append(window.to_crop(lm) / CROP_SIZE - 0.5 if with_landmarks else np.zeros((468, 2)))
        flags.append(float(with_landmarks))
        cameras.append([camera.focal, camera.cx, camera.cy, window.x0, window.y0, window.scale])
        truths.append(truth)
        yaws.append(yaw)
        flips.append(flip)
    cams = torch.tensor(np.array(cameras), dtype=torch.float32)
    batch = Batch(
        image=torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255,
        landmarks=torch.tensor(np.array(points), dtype=torch.float32),
        has_landmarks=torch.tensor(flags)[:, None],
        target=cams[:, 3:],  # window x0, y0 and scale: crop pixels -> photo pixels
        has_appearance=torch.zeros(len(indices), dtype=torch.bool),
        focal=cams[:, 0],
        centre=cams[:, 1:3],
    )
    labels = Labels(
        points=torch.tensor(np.array(truths), dtype=torch.float32),
        yaw=torch.tensor(np.radians(yaws), dtype=torch.float32),
        teacher=torch.from_numpy(data["teacher"][indices]),
        teach=~torch.tensor(flips, dtype=torch.bool),
    )
    return batch, labels


def loss_of(net: FaceRegressor, batch: Batch, labels: Labels, model, anchor, to21) -> tuple:
    normalised = net.normalised(batch.image, batch.landmarks, batch.has_landmarks)
    output = normalised * net.output_std + net.output_mean
    crop_points = projected_points(output, model.landmarks68_model, anchor, batch) * CROP_SIZE  # (B, 68, 2)
    x0y0, scale = batch.target[:, None, :2], batch.target[:, None, 2:]
    photo_points = to21 @ (crop_points / scale + x0y0)  # (B, 21, 2) crop pixels of the 120² photo
    truth = labels.points
    seen = (truth >= 0).all(-1) & (to21.sum(1) > 0)[None]
    t = torch.where(seen[..., None], truth, torch.nan)
    size = ((t.nan_to_num(-1e9).amax(1) - t.nan_to_num(1e9).amin(1)).prod(-1)).sqrt()  # (B,)
    error = (photo_points - truth).norm(dim=-1) * seen
    nme = (error.sum(1) / seen.sum(1).clamp_min(1) / size).mean()
    rotation = rotation_from_6d(output[:, SLICES["rotation"]])
    yaw = torch.atan2(rotation[:, 0, 2], rotation[:, 2, 2])
    yaw_loss = (yaw - labels.yaw).pow(2).mean()
    keep = torch.ones(normalised.shape[1], dtype=torch.bool)
    keep[SLICES["rotation"]] = keep[SLICES["position"]] = False  # pose is what the labels teach
    taught = labels.teach
    distill = (normalised - labels.teacher)[taught][:, keep].pow(2).mean() if taught.any() else torch.zeros(())
    loss = nme + YAW_WEIGHT * yaw_loss + DISTILL_WEIGHT * distill
    parts = {"nme": nme, "yaw_deg": torch.rad2deg(yaw_loss.sqrt()), "distill": distill}
    return loss, {k: round(float(v.detach()), 4) for k, v in parts.items()}


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    with np.load(args.work / "aflw_train.npz") as npz:
        data = {k: npz[k] for k in npz.files}
    model = load_face_model()
    anchor = torch.tensor(face_anchor(model), dtype=torch.float32)
    to21 = aflw21_matrix()
    mirror = mediapipe_mirror(model)
    everything = np.arange(len(data["image"]))
    held_out, train_set = everything[::HELD_OUT_EVERY], np.setdiff1d(everything, everything[::HELD_OUT_EVERY])
    net = load_regressor()
    if args.start:
        net.load_state_dict(torch.load(args.start, map_location="cpu", weights_only=True))
    optimizer = torch.optim.AdamW(net.parameters(), lr=LEARNING_RATE, weight_decay=1e-4)
    steps_per_epoch = len(train_set) // BATCH
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.epochs * steps_per_epoch)
    state_path, first = args.work / "state.pt", 0
    if state_path.exists():
        state = torch.load(state_path, weights_only=False)
        net.load_state_dict(state["net"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        first = state["epoch"] + 1
        print(f"resumed after epoch {state['epoch']}")
    start = time.perf_counter()
    report(net, data, held_out, model, anchor, to21, "before" if first == 0 else f"epoch {first - 1}")
    for epoch in range(first, args.epochs):
        net.train()
        epoch_rng = np.random.default_rng(epoch + 1)
        shuffled = epoch_rng.permutation(train_set)
        for step in range(steps_per_epoch):
            chosen = shuffled[step * BATCH : (step + 1) * BATCH]
            loss, parts = loss_of(net, *make_batch(data, chosen, epoch_rng, mirror), model, anchor, to21)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            if step % 50 == 0:
                print(f"epoch {epoch} step {step} {parts} ({time.perf_counter() - start:.0f} s)", flush=True)
        torch.save({"net": net.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                    "epoch": epoch}, state_path)  # fmt: skip
        report(net, data, held_out, model, anchor, to21, f"epoch {epoch}")
    torch.save(net.state_dict(), REGRESSOR_WEIGHTS)
    export_onnx(net, REGRESSOR_WEIGHTS.with_suffix(".onnx"))
    print(f"wrote {REGRESSOR_WEIGHTS} and its ONNX twin")


def report(net, data, held_out, model, anchor, to21, label: str) -> None:
    net.eval()
    with torch.no_grad():
        _, parts = loss_of(net, *make_batch(data, held_out, None), model, anchor, to21)
    print(f"{label}: held-out {parts}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=["prepare", "train"])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--limit", type=int, default=None, help="only the first N train crops")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--start", type=Path, help="weights to start from (default: the shipped regressor.pt)")
    args = parser.parse_args()
    prepare(args) if args.step == "prepare" else train(args)


if __name__ == "__main__":
    main()
