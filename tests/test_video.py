"""Video: synthetic clips with known truth, the CLI's files, bad videos."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess

import numpy as np
import pytest
from conftest import ROOT, SAMPLE, shared_path
from PIL import Image

from facerecon.camera import matrix_to_euler
from facerecon.cli import main
from facerecon.model.arkit import ARKIT_NAMES
from facerecon.pipeline import detect_faces
from facerecon.synthetic import ANIMATED, SAMPLE_FACE_CENTRE, animated_clip, example_curves, still_clip
from facerecon.video import jitter, reconstruct_video

imageio = pytest.importorskip("imageio.v2", reason="video needs imageio (pip install 'facerecon[video]')")
FPS = 25.0
PHOTO = np.asarray(Image.open(SAMPLE).convert("RGB"))


def test_synthetic_expression_curves_are_recovered(model, astronaut):
    """Our model, textured with the sample's texture, animated with known ARKit curves and rendered."""
    weights = example_curves(model.expression_names)
    video = reconstruct_video(animated_clip(model, astronaut[0], weights), FPS)
    assert video.detected.all()
    for name in ANIMATED:
        column = model.expression_names.index(name)
        correlation = np.corrcoef(weights[:, column], video.expression[:, column])[0, 1]
        assert correlation >= 0.9, (name, correlation)


def test_still_photo_gives_steady_weights_and_smoothing_lowers_jitter():
    video = reconstruct_video(still_clip(PHOTO, SAMPLE_FACE_CENTRE), FPS)
    assert video.detected.all()
    assert video.expression.std(axis=0).max() <= 0.05
    assert jitter(video.expression) < jitter(video.expression_raw)  # raw = independent per-frame fits
    # The head's roll follows the rotation of the picture (16 degrees over the clip).
    rolls = [matrix_to_euler(r)[2] for r in video.rotations]
    assert 10 < abs(rolls[-1] - rolls[0]) < 22


def test_a_cut_to_another_face_is_followed():
    """Frames are tracked from the previous frame's fit; a cut to another person must be fitted afresh."""
    other = np.asarray(Image.open(shared_path("faces/helen_test/3065355522_1.jpg")).convert("RGB"))
    other = np.ascontiguousarray(other[:, 64:576][:491])  # 512 wide, like the sample
    other = np.pad(other, ((0, 512 - other.shape[0]), (0, 0), (0, 0)), mode="edge")
    box = detect_faces(other, max_faces=1)[0].bbox
    clip = still_clip(PHOTO, SAMPLE_FACE_CENTRE, 8) + still_clip(other, tuple((box[:2] + box[2:]) / 2), 8)
    video = reconstruct_video(clip, FPS, smoothing=False)
    for t in range(8, 16):
        face = detect_faces(clip[t], max_faces=1)[0]
        points, size = video.landmarks68[t], face.bbox[2:] - face.bbox[:2]
        assert (points >= face.bbox[:2] - 0.1 * size).all() and (points <= face.bbox[2:] + 0.1 * size).all(), t
        assert (points.max(0) - points.min(0) > 0.6 * size).all(), t


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "still clip.mp4"
    imageio.mimwrite(path, still_clip(PHOTO, SAMPLE_FACE_CENTRE, 24), fps=FPS, codec="libx264", macro_block_size=2)
    return path


def test_video_cli_writes_every_output(clip_file, tmp_path):
    outdir = tmp_path / "out"
    assert main(["video", str(clip_file), "-o", str(outdir)]) == 0
    stem = "still clip"
    # Live Link Face's layout: Timecode, BlendShapeCount (61), the 52 shapes in ARKit's order, then the
    # head's and the eyes' yaw, pitch and roll in radians.
    with (outdir / f"{stem}_arkit.csv").open(newline="") as f:
        header, *rows = list(csv.reader(f))
    shapes = [name[0].upper() + name[1:] for name in ARKIT_NAMES]
    eyes = [f"{side}Eye{angle}" for side in ("Left", "Right") for angle in ("Yaw", "Pitch", "Roll")]
    assert header == ["Timecode", "BlendShapeCount", *shapes, "HeadYaw", "HeadPitch", "HeadRoll", *eyes]
    assert len(rows) == 24 and all(len(row) == 63 and row[1] == "61" for row in rows)
    records = [json.loads(line) for line in (outdir / f"{stem}_frames.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(24)) and all(r["face_detected"] for r in records)
    head = np.array([[float(v) for v in row[54:57]] for row in rows])
    pose = np.radians([[r["pose"][k] for k in ("yaw", "pitch", "roll")] for r in records])
    assert np.abs(head - pose).max() < 1e-3 and np.abs(pose).max() > 0.05
    reader = imageio.get_reader(outdir / f"{stem}_overlay.mp4")
    assert reader.count_frames() == 24
    data = (outdir / f"{stem}.glb").read_bytes()
    length = int.from_bytes(data[12:16], "little")
    document = json.loads(data[20 : 20 + length])
    channels = {c["target"]["path"] for c in document["animations"][0]["channels"]}
    assert channels == {"weights", "rotation", "translation"}
    validator = ROOT / ".ci/node/node_modules/gltf-validator"
    if shutil.which("node") and validator.exists():
        result = subprocess.run(
            ["node", str(ROOT / "tests/js/validate_gltf.js"), str(outdir / f"{stem}.glb")],
            capture_output=True, text=True, env=os.environ | {"GLTF_VALIDATOR": str(validator)}, check=True,
        )  # fmt: skip
        assert json.loads(result.stdout)["issues"]["numErrors"] == 0


def test_video_cli_fast_writes_the_same_curves_alone(clip_file, tmp_path):
    assert main(["video", str(clip_file), "-o", str(tmp_path / "full")]) == 0
    assert main(["video", "--fast", str(clip_file), "-o", str(tmp_path / "fast")]) == 0
    stem = "still clip"
    assert sorted(p.name for p in (tmp_path / "fast").iterdir()) == [
        f"{stem}.json", f"{stem}_arkit.csv", f"{stem}_frames.jsonl"
    ]  # fmt: skip
    for name in (f"{stem}_arkit.csv", f"{stem}_frames.jsonl"):
        assert (tmp_path / "fast" / name).read_bytes() == (tmp_path / "full" / name).read_bytes(), name


@pytest.mark.parametrize(("content", "code"), [(None, 3), (b"not a video at all", 5)])
def test_bad_videos(tmp_path, capsys, content, code):
    path = tmp_path / "in.mp4"
    if content is not None:
        path.write_bytes(content)
    assert main(["video", str(path), "-o", str(tmp_path / "out")]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("facerecon: error:") and "Traceback" not in "".join(err)
    assert not (tmp_path / "out").exists()
