"""Train the texture GCN on the real samples of tools/make_regressor_data.py; write the shipped weights.

    python tools/train_gcn.py --data ~/.cache/facerecon/train/samples.npz [--steps 1500] [--threads 2]

Self-supervised: the photo's own per-vertex colours are the target of (coarse albedo + correction) x
fitted shading, over the vertices the photo shows. Random patches of them (and of their mirror side) are
hidden from the input, so the network must predict colour where it sees none. 5 % of the photos are held
out; the held-out error is printed against the coarse albedo's. Deterministic for a seed and thread count.
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
from facerecon.nets.gcn import TextureGCN, gcn_features  # noqa: E402
from facerecon.nets.pretrained import GCN_WEIGHTS, face_region  # noqa: E402
from facerecon.texture.refine import vertex_shading  # noqa: E402

BATCH = 8
LEARNING_RATE = 2e-3
HELD_OUT = 0.05
PATCH_RADIUS_CM = (1.0, 4.0)
VERTEX_DROPOUT = 0.1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    model = load_face_model()
    faces, n = face_region(model)
    colors, shown, shading, coarse = load_vertex_data(args.data, model)
    mirror = torch.from_numpy(model.mirror[:n])
    positions = model.mean[:n].numpy()
    order = rng.permutation(len(colors))
    cut = max(1, int(len(order) * HELD_OUT))
    held_out, train = order[:cut], order[cut:]

    net = TextureGCN(faces, n)
    optimizer = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.steps)
    start = time.perf_counter()
    for step in range(args.steps):
        idx = rng.choice(train, min(BATCH, len(train)), replace=False)
        hidden = torch.from_numpy(np.stack([hide_patches(positions, rng) for _ in idx]))
        loss = colour_error(net, colors[idx], shown[idx], hidden, shading[idx], coarse[idx], mirror).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step} loss {loss.item():.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
    net.eval()
    with torch.no_grad():
        hidden = torch.from_numpy(np.stack([hide_patches(positions, np.random.default_rng(i)) for i in held_out]))
        args_ = (colors[held_out], shown[held_out], hidden, shading[held_out], coarse[held_out], mirror)
        refined, base = colour_error(net, *args_), colour_error(None, *args_)
    for name, keep in (("all shown", shown[held_out]), ("hidden from input", shown[held_out] & hidden)):
        print(f"held-out mean colour error, {name}: GCN {float(refined[keep].mean()):.4f}, "
              f"coarse albedo {float(base[keep].mean()):.4f}")  # fmt: skip
    torch.save(net.state_dict(), GCN_WEIGHTS)
    print(f"wrote {GCN_WEIGHTS} after {time.perf_counter() - start:.0f} s")


def load_vertex_data(path: Path, model) -> tuple[torch.Tensor, ...]:
    """Photo colours, shown mask, fitted shading and coarse albedo (N, V, ...) over the face region."""
    n = model.n_face_vertices
    with np.load(path) as npz:
        index = npz["vertex_index"]
        labels = {k: npz[k][index] for k in ("rotation", "translation", "identity", "expression", "lighting", "albedo")}
        colors = torch.from_numpy(npz["vertex_colors"].astype(np.float32))
        shown = torch.from_numpy(npz["vertex_shown"])
    basis = model.albedo_basis[:, :n].T
    shading, coarse = [], []
    with torch.no_grad():
        for i in range(len(index)):
            identity = torch.from_numpy(labels["identity"][i]).float()[None]
            expression = torch.from_numpy(labels["expression"][i]).float()[None]
            vertices = model(identity, expression)[0]
            camera = vertices @ torch.from_numpy(labels["rotation"][i]).float().T
            camera = camera + torch.from_numpy(labels["translation"][i]).float()
            shading.append(vertex_shading(model, camera, torch.from_numpy(labels["lighting"][i]).float())[:n])
            coarse.append((basis @ torch.from_numpy(labels["albedo"][i]).float()).clamp(0, 1))
    return colors, shown, torch.stack(shading), torch.stack(coarse)


def hide_patches(positions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(V,) bool: vertices within a few random discs on the face, plus a sprinkle of single vertices."""
    centres = positions[rng.integers(len(positions), size=rng.integers(1, 5))]
    radius = rng.uniform(*PATCH_RADIUS_CM, size=len(centres))
    distance = np.linalg.norm(positions[:, None] - centres[None], axis=2)
    return (distance < radius).any(axis=1) | (rng.random(len(positions)) < VERTEX_DROPOUT)


def colour_error(net, colors, shown, hidden, shading, coarse, mirror) -> torch.Tensor:
    """Per-vertex L1 colour error (B, V) of (coarse + correction) x shading against the photo, zero where
    the photo does not show the vertex; net=None: the coarse albedo alone."""
    albedo = coarse
    if net is not None:
        albedo = coarse + net(gcn_features(colors, shown & ~hidden, shading, coarse, mirror))
    error = ((albedo * shading - colors).abs().sum(-1)) / 3
    return error * shown.float()


if __name__ == "__main__":
    main()
