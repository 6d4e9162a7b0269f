"""Writing a reconstruction's files: all or nothing (temporary names, then renames)."""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from facerecon.errors import OutputError
from facerecon.export.formats import DEFAULT_FORMATS, FORMATS, GLB_TEXTURES
from facerecon.export.glb import export_glb
from facerecon.export.images import png_bytes
from facerecon.export.json_export import export_json
from facerecon.export.obj import export_mtl, export_obj
from facerecon.export.ply import export_ply
from facerecon.export.turntable import turntable_gif
from facerecon.reconstruction import Reconstruction

FILE_MODE = 0o644


def save_reconstruction(
    recon: Reconstruction,
    outdir: Path,
    stem: str,
    *,
    formats: tuple[str, ...] = DEFAULT_FORMATS,
    turntable: bool = False,
    glb_texture: str = "jpeg",
) -> list[Path]:
    """Encode the chosen mesh formats and the pictures, then write them all atomically; glb_texture: how the
    GLB embeds the skin's texture (GLB_TEXTURES)."""
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown format(s) {sorted(unknown)}; choose from {sorted(FORMATS)}")
    if glb_texture not in GLB_TEXTURES:
        raise ValueError(f"unknown GLB texture {glb_texture!r}; choose from {list(GLB_TEXTURES)}")
    pictures = {"texture": recon.texture, "overlay": recon.overlay, "albedo": recon.albedo_texture,
                "render": recon.render, "parts": None if recon.parts is None else recon.parts.texture}  # fmt: skip
    names = {key: f"{stem}_{key}.png" for key, image in pictures.items() if image is not None}
    names |= {fmt: f"{stem}.{fmt}" for fmt in formats}
    if "obj" in formats:
        names["mtl"] = f"{stem}.mtl"
    if turntable:
        names["turntable"] = f"{stem}_turntable.gif"
    shown = {key: image for key, image in pictures.items() if image is not None}
    contents: dict[str, bytes] = {}
    meshes = recon.meshes  # built here, once, before the GLB's thread reads them
    # The GLB (NumPy most of its time, which releases the GIL) builds on a second thread while the pictures
    # and the other formats are encoded here: 90 -> 66 ms a face, where threads for the pictures gained less.
    with ThreadPoolExecutor(1) as pool:
        glb = pool.submit(export_glb, recon, texture=glb_texture) if "glb" in formats else None
        encoded = {key: png_bytes(image) for key, image in shown.items()}
        if "obj" in formats:
            contents[names["obj"]] = export_obj(recon, names["mtl"])
            textures = {mesh.name: names["texture" if mesh.name == "face" else "parts"] for mesh in meshes}
            contents[names["mtl"]] = export_mtl(textures).encode()
        if "ply" in formats:
            contents[names["ply"]] = export_ply(recon)
        if "json" in formats:
            contents[names["json"]] = export_json(recon, names).encode()
        if turntable:
            contents[names["turntable"]] = turntable_gif(recon)
        if glb is not None:
            contents[names["glb"]] = glb.result()
    pictures_first = {names[key]: data for key, data in encoded.items()}
    return write_files_atomically(outdir, pictures_first | contents)


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
