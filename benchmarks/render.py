"""Renderer speed: our face mesh at 256 x 256 on the CPU, forward + backward, with and without
re-rasterising (the photometric fit re-rasterises every few steps and reuses the fragments between).

    python benchmarks/render.py [--repeats 30]
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

from facerecon.camera import PerspectiveCamera, euler_to_matrix  # noqa: E402
from facerecon.model.face_model import load_face_model  # noqa: E402
from facerecon.render.render import Surface, render  # noqa: E402
from facerecon.render.shade import AMBIENT  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = load_face_model()
    camera = PerspectiveCamera(focal=700.0, cx=127.5, cy=127.5, width=256, height=256)
    rotation = torch.from_numpy(euler_to_matrix(15, -5, 0)).float()
    identity = torch.zeros(1, model.n_identity, requires_grad=True)
    albedo = torch.full((model.n_vertices, 3), 0.6, requires_grad=True)
    lighting = AMBIENT.clone().requires_grad_(True)
    print(f"| mesh | pixels | step | median ms | p90 ms |  ({model.n_vertices} vertices, 2 threads)")
    print("|---|---|---|---|---|")
    for name, faces in (("face region", model.faces[: model.n_face_triangles]), ("whole head", model.faces)):
        faces_t = torch.from_numpy(faces)
        fragments = None
        for label, reuse in (("rasterise + forward + backward", False), ("forward + backward, fragments reused", True)):
            times = []
            for _ in range(args.repeats + 2):
                start = time.perf_counter()
                vertices = model(identity, torch.zeros(1, model.n_expression))[0] @ rotation.T
                vertices = vertices + torch.tensor([0.0, 0.0, -60.0])
                out = render(vertices, faces_t, camera, Surface(albedo), lighting, fragments if reuse else None)
                fragments = out.fragments
                (out.rgb.sum() + out.alpha.sum()).backward()
                times.append(time.perf_counter() - start)
            times = np.array(times[2:]) * 1000
            print(
                f"| {name} ({len(faces)} triangles) | {int(fragments.mask.sum())} | {label} | "
                f"{np.median(times):.0f} | {np.percentile(times, 90):.0f} |"
            )


if __name__ == "__main__":
    main()
