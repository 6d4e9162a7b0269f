"""The README's turntable strip: the bundled sample and two HELEN test photos, each seen from -90°, -45°, 0°,
45° and 90°, beside the photo.

    python tools/turntable_strip.py [--shared ../shared] [--out docs/turntable_strip.jpg]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import facerecon  # noqa: E402
from facerecon.camera import CropWindow  # noqa: E402
from facerecon.export.turntable import turntable_views  # noqa: E402
from facerecon.io.image import load_image  # noqa: E402

HELEN = ["296814969_3.jpg", "3065355522_1.jpg"]  # two HELEN test photos
YAWS = [-90.0, -45.0, 0.0, 45.0, 90.0]
SIZE = 256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/turntable_strip.jpg")
    args = parser.parse_args()
    photos = [ROOT / "src/facerecon/data/astronaut.jpg"] + [args.shared / "faces/helen_test" / n for n in HELEN]
    rows = []
    for photo in photos:
        face = facerecon.reconstruct(photo, max_faces=1)[0]
        crop = CropWindow.around(face.bbox, SIZE, 1.6).warp(load_image(photo).pixels)
        rows.append(np.concatenate([crop, *turntable_views(face, YAWS, SIZE)], axis=1))
    strip = np.concatenate(rows, axis=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
