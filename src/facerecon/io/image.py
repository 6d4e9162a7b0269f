"""Loading photos: any format Pillow reads, EXIF orientation applied, always RGB uint8.

Grayscale, palette, CMYK, RGBA (composited on grey), 16-bit and float images are converted; animated
images give their first frame. Each kind of bad input raises its own FaceReconError.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facerecon.errors import (
    ImageTooLargeError,
    ImageTooSmallError,
    InputNotFoundError,
    NotAFileError,
    UnreadableImageError,
)

MAX_PIXELS = 80_000_000  # below Pillow's own bomb limit; a 10,000 x 8,000 photo still loads
MIN_SIDE = 32  # pixels: smaller images cannot hold a face MediaPipe can find
EXIF_FOCAL_35MM = 0xA405  # FocalLengthIn35mmFilm, in the Exif sub-IFD
EXIF_IFD = 0x8769


@dataclass(frozen=True)
class LoadedImage:
    pixels: np.ndarray  # (H, W, 3) uint8 RGB, EXIF orientation applied
    focal_35mm: float | None  # EXIF 35 mm-equivalent focal length, if the file has one
    source: str  # the path, or "<array>"


def load_image(source: str | os.PathLike | np.ndarray) -> LoadedImage:
    """A path or an (H, W[, C]) array -> RGB uint8. Raises a FaceReconError subclass on bad input."""
    if isinstance(source, np.ndarray):
        return LoadedImage(_check_size(to_rgb8_array(source)), None, "<array>")
    path = Path(source)
    if not path.exists():
        raise InputNotFoundError(f"no such file: {path}")
    if not path.is_file():
        raise NotAFileError(f"not a regular file: {path}")
    if not os.access(path, os.R_OK):
        raise NotAFileError(f"file is not readable: {path}")
    if path.stat().st_size == 0:
        raise UnreadableImageError(f"empty file: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise ImageTooLargeError(
                        f"image too large: {img.width}x{img.height} pixels (limit {MAX_PIXELS:,}): {path}"
                    )
                focal = _exif_focal_35mm(img)
                img.seek(0)  # animated images: the first frame
                img = ImageOps.exif_transpose(img)
                pixels = to_rgb8_array(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLargeError(f"image too large (decompression bomb): {path}") from None
    except UnidentifiedImageError:
        raise UnreadableImageError(f"not an image file: {path}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UnreadableImageError(f"cannot decode image {path}: {exc}") from None
    return LoadedImage(_check_size(pixels), focal, str(path))


def to_rgb8_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """Any Pillow image or numeric array (H, W), (H, W, 1|3|4) -> (H, W, 3) uint8 RGB.

    High bit depths are scaled (not clipped) to 8 bits; alpha is composited over mid-grey.
    """
    if isinstance(image, Image.Image):
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            # 16-bit files: scaled by 65535 even when dark (all values < 256), never read as 8-bit.
            values = np.asarray(image)
            image = values.astype(np.uint16) if values.min() >= 0 and values.max() <= 65535 else values
        elif image.mode == "F":
            image = np.asarray(image)
        elif image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            image = image.convert("RGBA")
        else:
            image = image.convert("RGB")
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or array.size == 0:
        raise UnreadableImageError(f"unsupported image array shape {array.shape}")
    if array.dtype == np.uint8 and array.shape[2] == 3:
        return np.ascontiguousarray(array)
    unit = _to_unit_range(array)
    rgb = unit[..., :3]
    if array.shape[2] == 4:
        alpha = unit[..., 3:]
        rgb = rgb * alpha + 0.5 * (1 - alpha)
    return (rgb * 255.0 + 0.5).astype(np.uint8)


def _to_unit_range(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.bool_:
        return array.astype(np.float64)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise UnreadableImageError(f"unsupported image array type {array.dtype}")
    values = np.nan_to_num(array.astype(np.float64), posinf=0.0, neginf=0.0)
    top = values.max()
    if np.issubdtype(array.dtype, np.floating) and top <= 1.0:
        scale = 1.0
    elif array.dtype in (np.uint16, np.int16):  # the type says 16 bits, whatever the values
        scale = 65535.0
    else:
        scale = 255.0 if top <= 255 else 65535.0 if top <= 65535 else top
    return np.clip(values / scale, 0.0, 1.0)


def _check_size(pixels: np.ndarray) -> np.ndarray:
    h, w = pixels.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise ImageTooSmallError(f"image too small: {w}x{h} pixels (need at least {MIN_SIDE} on each side)")
    if h * w > MAX_PIXELS:
        raise ImageTooLargeError(f"image too large: {w}x{h} pixels (limit {MAX_PIXELS:,})")
    return pixels


def _exif_focal_35mm(img: Image.Image) -> float | None:
    try:
        value = img.getexif().get_ifd(EXIF_IFD).get(EXIF_FOCAL_35MM)
        return float(value) if value and float(value) > 0 else None
    except Exception:  # malformed EXIF is common and never fatal
        return None
