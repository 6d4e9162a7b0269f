"""Calibrate where FaceMesh's points land on faces of known shape: the surface points the landmark fit uses.

    python tools/calibrate_mediapipe.py [--shared ../shared] [--faces 300] [--seed 10]

MediaPipe's canonical mesh, registered on ours (build_face_model.py), says where its 468 points are by
definition; FaceMesh, run on a face, puts them elsewhere by a few millimetres (median 2 mm, up to 7 mm),
and a fit to the registered points pays for the difference with a wrong identity. So we render faces
whose geometry we know: identities drawn from the model's prior (seed 10; benchmarks/shape.py draws
seeds 1 and 2), neutral, turned by up to ±45° of yaw and ±10° of pitch, wearing the de-lit textures and
lighting of HELEN *train* reconstructions; run FaceMesh on each; cast each point it gives onto the true
head (front faces only), carry it to the mean face, and keep the per-point median (as
calibrate_landmarks68.py does with annotators' points). The face oval keeps its registered points: the fit
slides them to the silhouette. Writes tools/mediapipe_calibrated.json and the same embedding into the
shipped model asset (build_face_model.py reads the JSON when it rebuilds the asset).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tools"))

from build_face_model import MEDIAPIPE_CALIBRATION, write_npz  # noqa: E402
from calibrate_landmarks68 import cast_to_mean_face, median_surface_points  # noqa: E402

from facerecon.datasets import annotated_faces  # noqa: E402
from facerecon.fit.contour import MEDIAPIPE_OVAL  # noqa: E402
from facerecon.fit.landmark_fit import N_MESH_LANDMARKS  # noqa: E402
from facerecon.model.face_model import DEFAULT_ASSET, load_face_model  # noqa: E402
from facerecon.model.surface import surface_points  # noqa: E402
from facerecon.pipeline import Reconstructor  # noqa: E402
from facerecon.render.rasterize import rasterize  # noqa: E402
from facerecon.synthetic import neutral_shape, posed_head  # noqa: E402

LOOKS = 8  # HELEN train photos whose textures and lighting the renders wear
MAX_YAW, MAX_PITCH = 45.0, 10.0
MIN_SAMPLES = 20  # points seen fewer times keep their registered place


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--faces", type=int, default=300)
    parser.add_argument("--seed", type=int, default=10)
    args = parser.parse_args()
    reconstructor = Reconstructor(load_face_model(DEFAULT_ASSET))
    model = reconstructor.model
    photos = [photo for photo, _ in annotated_faces(args.shared / "faces/helen_train", every=97)][:LOOKS]
    looks = [reconstructor.reconstruct(photo, max_faces=1, texture_size=512)[0] for photo in photos]
    rng = np.random.default_rng(args.seed)
    samples: list[list[np.ndarray]] = [[] for _ in range(N_MESH_LANDMARKS)]
    for i in range(args.faces):
        identity = np.clip(rng.standard_normal(model.n_identity), -3, 3)
        yaw, pitch = rng.uniform(-MAX_YAW, MAX_YAW), rng.uniform(-MAX_PITCH, MAX_PITCH)
        picture, posed, camera = posed_head(model, neutral_shape(model, identity), looks[i % LOOKS], yaw, pitch)
        faces = reconstructor.detector.detect(picture, max_faces=1)
        if not faces or faces[0].landmarks is None:
            continue
        fragments = rasterize(camera.to_screen(posed), model.faces, *picture.shape[:2])
        pixels = np.rint(faces[0].landmarks[:N_MESH_LANDMARKS, :2]).astype(int)
        for k, position in cast_to_mean_face(pixels, fragments, posed, model, model.n_face_triangles):
            samples[k].append(position)
    calibrated = [k for k in range(N_MESH_LANDMARKS) if len(samples[k]) >= MIN_SAMPLES and k not in MEDIAPIPE_OVAL]
    tri, bary = model.mediapipe.tri.copy(), model.mediapipe.bary.copy()
    tri[calibrated], bary[calibrated] = median_surface_points([samples[k] for k in calibrated], model,
                                                             model.n_face_triangles)  # fmt: skip
    MEDIAPIPE_CALIBRATION.write_text(json.dumps({"faces": args.faces, "seed": args.seed, "tri": tri.tolist(),
                                                 "bary": np.round(bary, 6).tolist()}) + "\n")  # fmt: skip
    with np.load(DEFAULT_ASSET) as npz:
        arrays = {key: npz[key] for key in npz.files}
    arrays["mpcal_tri"], arrays["mpcal_bary"] = tri.astype(np.int32), bary.astype(np.float32)
    write_npz(DEFAULT_ASSET, arrays)
    mean = model.mean.numpy().astype(np.float64)
    registered = surface_points(mean, model.faces, model.mediapipe.tri, model.mediapipe.bary)
    moved = np.linalg.norm(surface_points(mean, model.faces, tri, bary) - registered, axis=1)
    print(f"{len(calibrated)} of {N_MESH_LANDMARKS} points calibrated on {args.faces} renders; moved by median "
          f"{np.median(moved[calibrated]) * 10:.1f} mm, at most {moved.max() * 10:.1f} mm; wrote "
          f"{MEDIAPIPE_CALIBRATION} and {DEFAULT_ASSET}")  # fmt: skip


if __name__ == "__main__":
    main()
