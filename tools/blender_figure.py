"""The README's Blender picture: the bundled sample's GLB opened in Blender and rendered through its
`photo_camera` (laid over the photo: the head lands where the face was), then from 60° to the side.

    python tools/blender_figure.py [--out docs/blender_glb.jpg]     (needs Debian's blender)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import facerecon  # noqa: E402
from facerecon.io.image import load_image  # noqa: E402

SAMPLE = ROOT / "src/facerecon/data/astronaut.jpg"


def over(rgba: np.ndarray, background: np.ndarray) -> np.ndarray:
    alpha = rgba[..., 3:] / 255.0
    return (rgba[..., :3] * alpha + background * (1 - alpha)).astype(np.uint8)


def close_up(rgba: np.ndarray, side: int) -> np.ndarray:
    """The rendered head over light grey, cropped to a square around it and scaled to side x side."""
    rows, cols = np.nonzero(rgba[..., 3] > 0)
    half = int(max(np.ptp(rows), np.ptp(cols)) * 0.6) + 1
    cy, cx = (rows.min() + rows.max()) // 2, (cols.min() + cols.max()) // 2
    padded = np.pad(rgba, ((half, half), (half, half), (0, 0)))
    crop = padded[cy : cy + 2 * half, cx : cx + 2 * half]
    return cv2.resize(over(crop, np.full((*crop.shape[:2], 3), 235.0)), (side, side), interpolation=cv2.INTER_AREA)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs/blender_glb.jpg")
    args = parser.parse_args()
    blender = shutil.which("blender") or sys.exit("needs Debian's blender on PATH")
    photo = load_image(SAMPLE).pixels
    height, width = photo.shape[:2]
    with tempfile.TemporaryDirectory() as work:
        facerecon.reconstruct(SAMPLE)[0].save(work, "sample", formats=("glb",))
        subprocess.run([blender, "-b", "--factory-startup", "--python-expr", "import numpy; numpy.bool = bool",
                        "--python", str(ROOT / "tools/blender/render_views.py"), "--", f"{work}/sample.glb",
                        f"{work}/view", str(width), str(height)], check=True, capture_output=True)  # fmt: skip
        views = [cv2.cvtColor(cv2.imread(f"{work}/view_{name}.png", cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)
                 for name in ("camera", "side")]  # fmt: skip
    close_ups = [close_up(view, height) for view in views]
    strip = np.concatenate([photo, over(views[0], photo), *close_ups], axis=1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
