import io

import numpy as np
import pytest
from PIL import Image

from facerecon.errors import (
    ImageTooSmallError,
    InputNotFoundError,
    NotAFileError,
    UnreadableImageError,
)
from facerecon.io.image import load_image, to_rgb8_array


def save(tmp_path, image: Image.Image, name: str, **kw):
    path = tmp_path / name
    image.save(path, **kw)
    return path


def gradient(w=64, h=48):
    x = np.linspace(0, 255, w, dtype=np.uint8)[None, :].repeat(h, 0)
    return np.stack([x, x[::-1], np.full_like(x, 77)], axis=2)


def test_rgb_roundtrip(tmp_path):
    pixels = load_image(save(tmp_path, Image.fromarray(gradient()), "a.png")).pixels
    assert pixels.dtype == np.uint8 and pixels.shape == (48, 64, 3)
    assert (pixels == gradient()).all()


def test_grayscale_16bit_and_palette(tmp_path):
    grey16 = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    out = load_image(save(tmp_path, Image.fromarray(grey16), "g16.png")).pixels
    assert out.shape == (48, 64, 3) and out.max() == 255 and out.min() == 0  # scaled, not clipped
    palette = Image.fromarray(gradient()).convert("P")
    assert load_image(save(tmp_path, palette, "p.png")).pixels.shape == (48, 64, 3)
    assert load_image(save(tmp_path, Image.fromarray(gradient()).convert("L"), "l.jpg")).pixels.shape == (48, 64, 3)
    cmyk = Image.fromarray(gradient()).convert("CMYK")
    assert load_image(save(tmp_path, cmyk, "c.jpg")).pixels.shape == (48, 64, 3)


def test_rgba_is_composited(tmp_path):
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # red, fully transparent
    out = load_image(save(tmp_path, Image.fromarray(rgba), "t.png")).pixels
    assert (out == 128).all()


def test_exif_orientation_is_applied(tmp_path):
    img = Image.fromarray(gradient(64, 48))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    out = load_image(save(tmp_path, img, "r.jpg", exif=exif)).pixels
    assert out.shape == (64, 48, 3)


def test_exif_focal_length_is_read(tmp_path):
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 35
    loaded = load_image(save(tmp_path, Image.fromarray(gradient()), "f.jpg", exif=exif))
    assert loaded.focal_35mm == 35


def test_arrays_of_any_depth():
    assert to_rgb8_array(np.ones((40, 40), dtype=np.float32)).max() == 255
    assert to_rgb8_array(np.full((40, 40, 1), 1000, dtype=np.uint16)).max() == 4
    assert to_rgb8_array(np.zeros((40, 40, 4), dtype=np.uint8)).shape == (40, 40, 3)
    with pytest.raises(UnreadableImageError):
        to_rgb8_array(np.zeros((40, 40, 2), dtype=np.uint8))


def test_bad_inputs(tmp_path):
    with pytest.raises(InputNotFoundError):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(NotAFileError):
        load_image(tmp_path)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(UnreadableImageError):
        load_image(tmp_path / "empty.jpg")
    (tmp_path / "text.jpg").write_text("<html>not an image</html>")
    with pytest.raises(UnreadableImageError):
        load_image(tmp_path / "text.jpg")
    buffer = io.BytesIO()
    Image.fromarray(gradient(400, 300)).save(buffer, format="JPEG")
    (tmp_path / "cut.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(UnreadableImageError):
        load_image(tmp_path / "cut.jpg")
    with pytest.raises(ImageTooSmallError):
        load_image(save(tmp_path, Image.new("RGB", (1, 1)), "one.png"))
