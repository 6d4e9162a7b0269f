"""Train the face regressor on the set from tools/make_regressor_data.py; write the shipped weights and ONNX.

    python tools/train_regressor.py --data ~/.cache/facerecon/train/samples.npz [--epochs 12] [--threads 2]

AdamW with a one-cycle learning rate, batches of 64 jittered crops; 5 % of the photos are held out and
their losses printed each epoch. Writes src/facerecon/nets/data/regressor.pt and regressor.onnx (the
exported encoder, checked against the torch model). Deterministic for a given seed and thread count.
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

from facerecon.model.face_model import load_face_model  # noqa: E402
from facerecon.nets.codec import face_anchor  # noqa: E402
from facerecon.nets.pretrained import REGRESSOR_WEIGHTS, export_onnx  # noqa: E402
from facerecon.nets.regressor import FaceRegressor  # noqa: E402
from facerecon.nets.training import label_boxes68, label_statistics, make_batch, regressor_loss  # noqa: E402

BATCH = 64
LEARNING_RATE = 2e-3
WEIGHT_DECAY = 1e-4
HELD_OUT = 0.05


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REGRESSOR_WEIGHTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    with np.load(args.data) as npz:
        data = {k: npz[k] for k in npz.files if not k.startswith("vertex_")}
    model = load_face_model()
    data["box68"] = label_boxes68(data, model)
    anchor = face_anchor(model)
    points_model = model.embedded(model.mediapipe)
    n = len(data["image"])
    order = rng.permutation(n)
    cut = max(1, int(n * HELD_OUT))
    held_out, train = order[:cut], order[cut:]

    net = FaceRegressor()
    net.output_mean, net.output_std = label_statistics({k: v[train] for k, v in data.items()}, anchor)
    optimizer = torch.optim.AdamW(net.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    steps = args.epochs * (len(train) // BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, LEARNING_RATE, total_steps=steps, pct_start=0.15)
    anchor_t = torch.tensor(anchor, dtype=torch.float32)
    start = time.perf_counter()
    print(f"{len(train)} training and {len(held_out)} held-out samples; {steps} steps", flush=True)
    for epoch in range(args.epochs):
        net.train()
        shuffled = rng.permutation(train)
        for step in range(len(train) // BATCH):
            batch = make_batch(data, shuffled[step * BATCH : (step + 1) * BATCH], anchor, rng)
            loss, parts = regressor_loss(net, batch, points_model, anchor_t)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            if step % 50 == 0:
                print(f"epoch {epoch} step {step} loss {float(loss):.3f} {_fmt(parts)}", flush=True)
        net.eval()
        with torch.no_grad():
            parts = evaluate(net, data, held_out, anchor, points_model, anchor_t)
        print(f"epoch {epoch} held-out {_fmt(parts)} ({time.perf_counter() - start:.0f} s)", flush=True)
        torch.save(net.state_dict(), args.out)
    export_onnx(net, args.out.with_suffix(".onnx"))
    print(f"wrote {args.out} and {args.out.with_suffix('.onnx')} after {time.perf_counter() - start:.0f} s")


def evaluate(net, data, indices, anchor, points_model, anchor_t) -> dict[str, float]:
    """Mean held-out loss parts, over real and synthetic samples separately."""
    out = {}
    for name, keep in (("real", ~data["synthetic"][indices]), ("synthetic", data["synthetic"][indices])):
        chosen = indices[keep]
        if len(chosen):
            _, parts = regressor_loss(net, make_batch(data, chosen, anchor, None), points_model, anchor_t)
            out |= {f"{name}_{k}": v for k, v in parts.items()}
    return out


def _fmt(parts: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.3f}" for k, v in parts.items())


if __name__ == "__main__":
    main()
