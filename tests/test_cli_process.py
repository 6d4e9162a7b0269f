"""The CLI as a real process (MediaPipe's C++ side writes to file descriptor 2, which capsys never sees),
small faces, and the edges of batch and image loading."""

from __future__ import annotations

import glob
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import SAMPLE, shared_path
from PIL import Image

from facerecon.errors import NoFaceError, OutputError
from facerecon.io.image import load_image
from facerecon.io.pts import read_pts
from facerecon.pipeline import detect_faces


def run_cli(*args: str) -> subprocess.CompletedProcess:
    # stderr is a pipe, not a terminal: no progress bar may appear there either.
    return subprocess.run([sys.executable, "-m", "facerecon", *args], capture_output=True, text=True, timeout=300)


def test_no_face_is_exactly_one_line_on_stderr(tmp_path):
    photo = tmp_path / "grey.jpg"
    Image.new("RGB", (640, 480), (128, 128, 128)).save(photo)
    result = run_cli("reconstruct", str(photo), "-o", str(tmp_path / "out"))
    assert result.returncode == NoFaceError.exit_code
    assert result.stderr.splitlines() == [f"facerecon: error: no face found in {photo}"]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_successful_run_writes_nothing_to_stderr(tmp_path):
    result = run_cli("reconstruct", str(SAMPLE), "-o", str(tmp_path), "--no-photometric")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert (tmp_path / "astronaut.obj").exists()


def test_version_and_internal_errors():
    from facerecon import __version__

    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"facerecon {__version__}"
    # A bug of ours (here: a command that divides by zero) is one line without --debug, a traceback with it.
    code = "import facerecon.cli as c; c.run_command = lambda *a: 1 / 0; raise SystemExit(c.main(['demo']))"
    plain = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert plain.returncode == 1 and len(plain.stderr.splitlines()) == 1
    assert plain.stderr.startswith("facerecon: internal error: ZeroDivisionError")
    debug = subprocess.run([sys.executable, "-c", code.replace("['demo']", "['--debug', 'demo']")],
                           capture_output=True, text=True)  # fmt: skip
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def small_face_frame(photo: str, face_width: float, shift: tuple[int, int] = (0, 0)) -> np.ndarray:
    """A 640 x 480 frame with the photo's face `face_width` pixels wide (jaw to jaw) near its centre, the
    rest of the frame the photo's own surroundings, reflected at its borders."""
    pixels, points = load_image(photo).pixels, read_pts(photo[:-4] + ".pts")
    scale = face_width / np.ptp(points[:, 0])
    small = cv2.resize(pixels, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    cx, cy = (points.mean(axis=0) * scale).astype(int)
    frame = cv2.copyMakeBorder(small, 480, 480, 640, 640, cv2.BORDER_REFLECT)
    x0, y0 = cx + 640 - 320 + shift[0], cy + 480 - 200 + shift[1]
    return np.ascontiguousarray(frame[y0 : y0 + 480, x0 : x0 + 640])


def test_faces_down_to_26_pixels_are_found():
    photos = sorted(glob.glob(str(shared_path("faces/helen_test") / "*.jpg")))[:6]
    for photo in photos:
        faces = detect_faces(small_face_frame(photo, 26))
        assert any(f.landmarks is not None for f in faces), photo


def test_video_with_a_60_pixel_face_has_a_face_in_every_frame():
    pytest.importorskip("imageio")
    from facerecon.video import reconstruct_video

    photo = sorted(glob.glob(str(shared_path("faces/helen_test") / "*.jpg")))[3]
    frames = [small_face_frame(photo, 60, (2 * t, t)) for t in range(6)]
    video = reconstruct_video(frames, 25.0, keyframes=2)
    assert video.detected.all()


def test_batch_refuses_an_output_folder_inside_its_input(tmp_path):
    from facerecon.batch import run_batch

    shutil.copy(SAMPLE, tmp_path / "a.jpg")
    with pytest.raises(OutputError, match="inside the input folder"):
        run_batch(tmp_path, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_batch_gives_a_copy_under_another_name_its_own_folder(tmp_path):
    from facerecon.batch import run_batch

    photos = tmp_path / "in"
    photos.mkdir()
    shutil.copy(SAMPLE, photos / "a.jpg")
    first = run_batch(photos, tmp_path / "out", fast=True, formats=("json",), progress=False)
    assert [r.status for r in first.processed] == ["ok"]
    shutil.copy(SAMPLE, photos / "b.jpg")  # the same photo, added later under another name
    second = run_batch(photos, tmp_path / "out", fast=True, formats=("json",), progress=False)
    assert [r.folder for r in second.skipped] == ["a.jpg"] and [r.folder for r in second.processed] == ["b.jpg"]
    assert (tmp_path / "out/b.jpg/b.json").exists()


def test_a_dark_16_bit_photo_is_read_as_16_bit(tmp_path):
    dark = np.linspace(0, 255, 64 * 48).reshape(48, 64).astype(np.uint16)  # all values < 256
    Image.fromarray(dark).save(tmp_path / "dark16.png")
    pixels = load_image(tmp_path / "dark16.png").pixels
    assert pixels.max() <= 1  # 255 / 65535 of full scale, not full white


def test_no_photometric_writes_no_albedo_for_a_face_from_its_box_alone(tmp_path):
    import facerecon

    grey = np.full((300, 300, 3), 128, np.uint8)  # no landmarks to read: the regressor alone, from the box
    faces = facerecon.reconstruct(grey, bbox=[50, 50, 250, 250], photometric=False)
    written = {p.name for p in faces[0].save(tmp_path, "face")}
    assert faces[0].landmarks478 is None and faces[0].albedo_texture is None and faces[0].render is None
    assert "face_albedo.png" not in written and "face_render.png" not in written


def test_load_image_is_public_and_the_package_is_typed():
    import facerecon

    assert facerecon.load_image(SAMPLE).pixels.shape == (512, 512, 3)
    assert (SAMPLE.parents[1] / "py.typed").exists()
