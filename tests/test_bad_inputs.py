"""The bad- and awkward-input corpus, generated here (no binaries committed), run through the CLI.

Bad inputs: the documented exit code, one line on stderr, no traceback, nothing written.
Awkward but valid inputs: a correct result.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLE
from PIL import Image

from facerecon.cli import main

FACE = Image.open(SAMPLE).convert("RGB")


def png_with_header(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb's signature)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def encoded(image: Image.Image, fmt: str, **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kw)
    return buffer.getvalue()


def noise(w: int, h: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8))


# name -> (file name, bytes to write, or None for "do not create")
BAD: dict[str, tuple[str, Callable[[], bytes | None], int]] = {
    "missing": ("missing.jpg", lambda: None, 3),
    "empty": ("empty.jpg", lambda: b"", 5),
    "truncated jpeg": ("cut.jpg", lambda: encoded(FACE, "JPEG")[:5000], 5),
    "truncated png": ("cut.png", lambda: encoded(FACE, "PNG")[:3000], 5),
    "garbage": ("garbage.jpg", lambda: os.urandom(4096), 5),
    "text as jpg": ("notes.jpg", lambda: b"just some text, not a photo\n" * 20, 5),
    "html as png": ("page.png", lambda: b"<!doctype html><html><body><img src=x></body></html>", 5),
    "decompression bomb": ("bomb.png", lambda: png_with_header(100_000, 100_000), 6),
    "bomb under pillow limit": ("bomb2.png", lambda: png_with_header(12_000, 8_000), 6),
    "one pixel": ("one.png", lambda: encoded(Image.new("RGB", (1, 1)), "PNG"), 7),
    "thin strip": ("strip.png", lambda: encoded(Image.new("RGB", (10_000, 20)), "PNG"), 7),
    "no face": ("noise.png", lambda: encoded(noise(320, 240), "PNG"), 8),
    "black": ("black.png", lambda: encoded(Image.new("RGB", (400, 300)), "PNG"), 8),
    "overexposed": ("bright.jpg", lambda: encoded(scaled(FACE, 2.5), "JPEG"), 8),
}


def scaled(img: Image.Image, gain: float) -> Image.Image:
    return Image.fromarray(np.clip(np.asarray(img, dtype=np.float64) * gain, 0, 255).astype(np.uint8))


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input(case, tmp_path, capsys):
    name, make, code = BAD[case]
    path = tmp_path / "in" / name
    path.parent.mkdir()
    data = make()
    if data is not None:
        path.write_bytes(data)
    outdir = tmp_path / "out"
    assert main(["reconstruct", str(path), "-o", str(outdir)]) == code
    assert_one_line_error(capsys)
    assert not outdir.exists() or not any(outdir.iterdir())


def test_broken_symlink(tmp_path, capsys):
    link = tmp_path / "link.jpg"
    link.symlink_to(tmp_path / "gone.jpg")
    assert main(["reconstruct", str(link), "-o", str(tmp_path / "out")]) == 3
    assert_one_line_error(capsys)


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_bad_model_asset(tmp_path, capsys, damage):
    asset = tmp_path / "model.npz"
    if damage == "corrupt":
        asset.write_bytes(b"PK\x03\x04 definitely not the model")
    outdir = tmp_path / "out"
    assert main(["reconstruct", str(SAMPLE), "-o", str(outdir), "--model", str(asset)]) == 10
    assert_one_line_error(capsys)
    assert not outdir.exists()


def test_directory_as_input(tmp_path, capsys):
    assert main(["reconstruct", str(tmp_path), "-o", str(tmp_path / "out")]) == 4
    assert_one_line_error(capsys)


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the output folder should be")
    assert main(["reconstruct", str(SAMPLE), "-o", str(blocker / "out")]) == 9
    assert_one_line_error(capsys)
    assert blocker.read_text().startswith("a file")


def test_bad_arguments_are_usage_errors(tmp_path):
    for argv in (
        ["reconstruct", str(SAMPLE)],
        ["reconstruct", str(SAMPLE), "-o", "x", "--bbox", "1,2,3"],
        ["reconstruct", str(SAMPLE), "-o", "x", "--max-faces", "0"],
        [],
    ):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse exits by itself
            code = exc.code
        assert code == 2, argv


def test_one_bad_image_does_not_stop_the_others(tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    assert main(["reconstruct", str(bad), str(SAMPLE), "-o", str(tmp_path / "out")]) == 5
    assert (tmp_path / "out" / "astronaut.obj").exists()


def rgba(img: Image.Image) -> Image.Image:
    out = img.convert("RGBA")
    out.putalpha(255)
    return out


def exif_rotated(img: Image.Image) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 8  # "rotate 90 degrees counter-clockwise to display": undoes the stored rotation
    return encoded(img.transpose(Image.Transpose.ROTATE_270), "JPEG", exif=exif)


AWKWARD: dict[str, tuple[str, Callable[[], bytes]]] = {
    "jpeg named png": ("face.png", lambda: encoded(FACE, "JPEG")),
    "no extension": ("face", lambda: encoded(FACE, "JPEG")),
    "grayscale": ("grey.jpg", lambda: encoded(FACE.convert("L"), "JPEG")),
    "rgba": ("alpha.png", lambda: encoded(rgba(FACE), "PNG")),
    "16-bit grey": (
        "g16.png",
        lambda: encoded(Image.fromarray(np.asarray(FACE.convert("L")).astype(np.uint16) * 257), "PNG"),
    ),
    "palette": ("pal.png", lambda: encoded(FACE.convert("P"), "PNG")),
    "cmyk": ("cmyk.jpg", lambda: encoded(FACE.convert("CMYK"), "JPEG")),
    "animated gif": (
        "anim.gif",
        lambda: encoded(
            FACE.convert("P"), "GIF", save_all=True, append_images=[noise(512, 512).convert("P")], duration=100
        ),
    ),
    "exif rotated": ("rotated.jpg", lambda: exif_rotated(FACE)),
    "unicode and spaces": ("visage été 顔.jpg", lambda: encoded(FACE, "JPEG")),
}


@pytest.mark.parametrize("case", sorted(AWKWARD))
def test_awkward_but_valid_input(case, tmp_path, capsys, astronaut):
    name, make = AWKWARD[case]
    path = tmp_path / "in dir" / name
    path.parent.mkdir()
    path.write_bytes(make())
    outdir = tmp_path / "out"
    assert main(["reconstruct", str(path), "-o", str(outdir)]) == 0, capsys.readouterr().err
    stem = Path(name).stem
    for suffix in (".obj", ".mtl", "_texture.png", ".json", "_overlay.png"):
        assert (outdir / f"{stem}{suffix}").stat().st_size > 0
    import json

    record = json.loads((outdir / f"{stem}.json").read_text())
    # The same face as the reference reconstruction of the sample: landmarks within a few pixels.
    error = np.linalg.norm(np.array(record["landmarks68"]) - astronaut[0].landmarks68, axis=1).mean()
    assert error < 4.0, error
    assert not list(outdir.glob(".*.tmp"))


def shifted(case: str) -> tuple[Image.Image, tuple[int, int]]:
    """An awkward variant of the sample and where the sample's pixel (0, 0) lands in it."""
    if case == "10,000 pixels wide":
        canvas = Image.new("RGB", (10_000, 800), (90, 90, 90))
        canvas.paste(FACE, (6000, 100))
        return canvas, (6000, 100)
    if case == "face cut by the border":
        return FACE.crop((200, 0, 512, 512)), (-200, 0)
    return scaled(FACE, 0.08), (0, 0)  # "very dark"


@pytest.mark.parametrize("case", ["10,000 pixels wide", "face cut by the border", "very dark"])
def test_awkward_geometry_and_exposure(case, tmp_path, capsys, astronaut):
    image, offset = shifted(case)
    path = tmp_path / "in.png"
    image.save(path)
    assert main(["reconstruct", str(path), "-o", str(tmp_path / "out"), "--no-photometric"]) == 0
    import json

    record = json.loads((tmp_path / "out" / "in.json").read_text())
    error = np.linalg.norm(np.array(record["landmarks68"]) - (astronaut[0].landmarks68 + offset), axis=1).mean()
    assert error < 6.0, error


def assert_one_line_error(capsys) -> None:
    err = capsys.readouterr().err.strip()
    assert err.startswith("facerecon: error:"), err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err


def test_failed_run_leaves_existing_outputs_alone(tmp_path, capsys):
    outdir = tmp_path / "out"
    outdir.mkdir()
    previous = outdir / "photo.obj"
    previous.write_text("an earlier, good result")
    bad = tmp_path / "photo.jpg"
    bad.write_bytes(encoded(FACE, "JPEG")[:4000])  # truncated: fails after the name is known
    assert main(["reconstruct", str(bad), "-o", str(outdir)]) == 5
    assert previous.read_text() == "an earlier, good result"
    assert sorted(p.name for p in outdir.iterdir()) == ["photo.obj"]
