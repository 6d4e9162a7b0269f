"""Writing a reconstruction's files: all or nothing (temporary names, then renames)."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from facerecon.errors import OutputError
from facerecon.export.json_export import export_json
from facerecon.export.obj import export_mtl, export_obj
from facerecon.reconstruction import Reconstruction

FILE_MODE = 0o644


def save_reconstruction(recon: Reconstruction, outdir: Path, stem: str, *, turntable: bool = False) -> list[Path]:
    images = {
        "texture": recon.texture,
        "overlay": recon.overlay,
        "albedo": recon.albedo_texture,
        "render": recon.render,
    }
    names = {"obj": f"{stem}.obj", "mtl": f"{stem}.mtl", "json": f"{stem}.json"}
    names |= {key: f"{stem}_{key}.png" for key, image in images.items() if image is not None}
    if turntable:
        names["turntable"] = f"{stem}_turntable.gif"
    contents: dict[str, bytes] = {
        names["obj"]: export_obj(recon, names["mtl"]).encode(),
        names["mtl"]: export_mtl(names["texture"]).encode(),
        names["json"]: export_json(recon, names).encode(),
    }
    contents |= {names[key]: png_bytes(image) for key, image in images.items() if image is not None}
    if turntable:
        from facerecon.export.turntable import turntable_gif

        contents[names["turntable"]] = turntable_gif(recon)
    return write_files_atomically(outdir, contents)


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG", compress_level=4)
    return buffer.getvalue()


def write_files_atomically(outdir: Path, contents: dict[str, bytes]) -> list[Path]:
    """Write every file under a temporary name first and rename them only once all are written, so a
    failure leaves neither partial files nor a half-replaced set behind."""
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {outdir}: {exc.strerror or exc}") from None
    staged: list[tuple[str, Path]] = []
    try:
        for name, data in contents.items():
            fd, tmp = tempfile.mkstemp(dir=outdir, prefix=f".{name}.", suffix=".tmp")
            staged.append((tmp, outdir / name))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, FILE_MODE)  # mkstemp makes 0600 files; outputs are ordinary files
        for tmp, final in staged:
            os.replace(tmp, final)
    except OSError as exc:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write to output folder {outdir}: {exc.strerror or exc}") from None
    return [final for _, final in staged]
