"""Train the regressor's second head (AFLW's 21 points and whether each is seen) on AFLW's labelled train crops.

    python tools/train_aflw21_head.py --work DIR [--passes 8] [--epochs 40]

Reads DIR/aflw_train.npz, written by `tools/finetune_regressor_aflw.py prepare`; run it after any training
of the rest of the regressor (the head reads the features as they are). The rest is frozen, so the
features are computed once and kept in DIR: `--passes` jittered views of each train crop (half mirrored,
some without MediaPipe's points, as the fine-tuning makes them) and the held-out crops (every 20th) framed
as the pipeline frames them. The head learns the seen points' NME and, per point, a logit for whether
AFLW's annotators marked it. Then its input normalisation is folded into its first layer, and
src/facerecon/nets/data/regressor.pt and .onnx are rewritten. ~5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tools"))

from finetune_regressor_aflw import HELD_OUT_EVERY, make_batch, mediapipe_mirror  # noqa: E402

from facerecon.model.face_model import load_face_model  # noqa: E402
from facerecon.nets.pretrained import REGRESSOR_ONNX, REGRESSOR_WEIGHTS, export_onnx, load_regressor  # noqa: E402
from facerecon.nets.regressor import CROP_SIZE, N_AFLW21, FaceRegressor  # noqa: E402

BATCH, LEARNING_RATE, WEIGHT_DECAY = 256, 1e-3, 1e-5
VISIBILITY_WEIGHT = 0.05  # the logits' cross-entropy beside the NME (1.0 = 100 %)
BINS = (30, 60)  # |yaw| bin edges of the report


def features(net: FaceRegressor, data: dict, indices: np.ndarray, rng, mirror) -> dict[str, torch.Tensor]:
    """The frozen features of the crops `indices`, their labels in crop widths from the centre (NaN where
    not annotated) and their yaw (radians)."""
    out: dict[str, list] = {"features": [], "points": [], "yaw": []}
    for start in range(0, len(indices), 64):
        batch, labels = make_batch(data, indices[start : start + 64], rng, mirror)
        with torch.no_grad():
            out["features"].append(net.features(batch.image, batch.landmarks, batch.has_landmarks))
        corner, scale = batch.target[:, None, :2], batch.target[:, None, 2:]  # crop = (photo - corner) * scale
        points = (labels.points - corner) * scale / CROP_SIZE - 0.5
        points[labels.points[..., 0] < 0] = float("nan")
        out["points"].append(points)
        out["yaw"].append(labels.yaw)
    return {k: torch.cat(v) for k, v in out.items()}


def cached_features(net: FaceRegressor, data: dict, work: Path, passes: int) -> tuple[dict, dict]:
    """(train views, held-out crops), from DIR/aflw21_features.pt when it has as many passes."""
    path = work / "aflw21_features.pt"
    if path.exists():
        cached = torch.load(path)
        if cached["passes"] == passes:
            return cached["train"], cached["held_out"]
    everything = np.arange(len(data["yaw"]))
    held_out = everything[::HELD_OUT_EVERY]
    train_set = np.setdiff1d(everything, held_out)
    mirror = mediapipe_mirror(load_face_model())
    views = []
    for k in range(passes):
        views.append(features(net, data, train_set, np.random.default_rng(k), mirror))
        print(f"features: pass {k + 1}/{passes}", flush=True)
    train = {key: torch.cat([v[key] for v in views]) for key in views[0]}
    held = features(net, data, held_out, None, None)
    torch.save({"passes": passes, "train": train, "held_out": held}, path)
    return train, held


def point_nme(predicted: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """(B,) mean distance over the annotated points / sqrt(w x h) of their box, as metrics.visible_nme."""
    seen = ~torch.isnan(truth[..., 0])
    filled = torch.nan_to_num(truth)
    big = torch.where(seen[..., None], filled, torch.tensor(-torch.inf)).amax(1)
    small = torch.where(seen[..., None], filled, torch.tensor(torch.inf)).amin(1)
    size = (big - small).clamp_min(1e-3).prod(-1).sqrt()
    distance = (predicted - filled).norm(dim=-1) * seen
    return distance.sum(1) / seen.sum(1).clamp_min(1) / size


def loss_of(head: nn.Module, inputs: torch.Tensor, truth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(training loss, per-sample NME)."""
    output = head(inputs)
    nme = point_nme(output[:, : 2 * N_AFLW21].reshape(-1, N_AFLW21, 2), truth)
    seen = (~torch.isnan(truth[..., 0])).float()
    visibility = nn.functional.binary_cross_entropy_with_logits(output[:, 2 * N_AFLW21 :], seen)
    return nme.mean() + VISIBILITY_WEIGHT * visibility, nme


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--passes", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    with np.load(args.work / "aflw_train.npz") as npz:
        data = {k: npz[k] for k in npz.files}
    net = load_regressor()
    train, held = cached_features(net, data, args.work, args.passes)
    mean, std = train["features"].mean(0), train["features"].std(0) + 1e-3
    head = FaceRegressor().aflw21_head  # freshly initialised
    optimizer = torch.optim.Adam(head.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.epochs)
    inputs, held_inputs = (train["features"] - mean) / std, (held["features"] - mean) / std
    bins = np.digitize(np.degrees(held["yaw"].abs().numpy()), BINS)
    for epoch in range(args.epochs):
        head.train()
        for chosen in torch.randperm(len(inputs)).split(BATCH):
            loss, _ = loss_of(head, inputs[chosen], train["points"][chosen])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
        head.eval()
        with torch.no_grad():
            nme = loss_of(head, held_inputs, held["points"])[1].numpy() * 100
        by_bin = " / ".join(f"{nme[bins == b].mean():.2f}" for b in range(len(BINS) + 1))
        print(f"epoch {epoch + 1}: held-out NME by |yaw| bin {by_bin} %", flush=True)
    first = head[0]
    with torch.no_grad():  # (x - mean) / std folded into the first layer: the shipped head reads raw features
        first.weight /= std
        first.bias -= first.weight @ mean
    net.aflw21_head = head
    torch.save(net.state_dict(), REGRESSOR_WEIGHTS)
    export_onnx(net, REGRESSOR_ONNX)
    print(f"-> {REGRESSOR_WEIGHTS} and {REGRESSOR_ONNX}")


if __name__ == "__main__":
    main()
