"""Encoding pictures."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG", compress_level=4)
    return buffer.getvalue()
