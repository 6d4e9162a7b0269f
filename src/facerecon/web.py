"""`facerecon serve`: a Gradio app — upload a photo, turn the textured head in a 3D viewer, move a few ARKit
sliders that re-pose it, download GLB, OBJ (zip) and JSON. Optional extra: pip install 'facerecon[web]'.

Uploads are checked like every other input (size limit, content, one clear message for a photo without a
face); results go to a fresh folder per request under the app's own output folder, and Gradio serves only
files it returned from there (no allowed_paths are added).
"""

from __future__ import annotations

import tempfile
import uuid
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facerecon.errors import FaceReconError, MissingExtraError
from facerecon.reconstruction import Reconstruction

if TYPE_CHECKING:
    import gradio as gr

MAX_UPLOAD_MB = 20
SLIDERS = ("jawOpen", "mouthSmileLeft", "mouthSmileRight", "eyeBlinkLeft", "eyeBlinkRight", "browInnerUp")


def build_app(output_root: Path) -> gr.Blocks:
    try:
        import gradio as gr
    except ImportError:
        raise MissingExtraError("serve needs Gradio: pip install 'facerecon[web]'") from None
    output_root.mkdir(parents=True, exist_ok=True)

    def run(path: str | None) -> tuple:
        if not path:
            raise gr.Error("Choose a photo first.")
        if Path(path).stat().st_size > MAX_UPLOAD_MB * 1024 * 1024:
            raise gr.Error(f"The file is larger than {MAX_UPLOAD_MB} MB.")
        try:
            face = _reconstruct(path)
        except FaceReconError as exc:
            raise gr.Error(_user_message(exc)) from None
        folder = output_root / uuid.uuid4().hex
        written = face.save(folder, "face", formats=("obj", "glb", "json"))
        archive = folder / "face_obj.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
            for p in written:
                if p.suffix in (".obj", ".mtl") or p.name in ("face_texture.png", "face_parts.png"):
                    bundle.write(p, p.name)
        render = None if face.render is None else face.render
        weights = [gr.update(value=round(face.expression[name], 2)) for name in SLIDERS]
        downloads = [str(folder / "face.glb"), str(archive), str(folder / "face.json")]
        status = f"Done: yaw {face.pose['yaw']:.0f}°, pitch {face.pose['pitch']:.0f}°."
        return str(folder / "face.glb"), face.overlay, render, downloads, status, (face, str(folder)), *weights

    def repose(state: tuple | None, *weights: float) -> str:
        if not state:
            raise gr.Error("Reconstruct a photo first.")
        face, folder = state
        posed = _with_expression(face, dict(zip(SLIDERS, weights, strict=True)))
        path = Path(folder) / f"posed_{uuid.uuid4().hex[:8]}.glb"
        from facerecon.export.files import write_files_atomically
        from facerecon.export.glb import export_glb

        write_files_atomically(path.parent, {path.name: export_glb(posed)})
        return str(path)

    with gr.Blocks(title="facerecon") as app:
        gr.Markdown("# facerecon\nOne photo → a textured, animatable 3D face (GLB with ARKit blendshapes).")
        with gr.Row():
            with gr.Column(scale=1):
                photo = gr.File(label="Photo", file_types=["image"], type="filepath", elem_id="photo")
                button = gr.Button("Reconstruct", variant="primary", elem_id="run")
                status = gr.Markdown(elem_id="status")
                sliders = [gr.Slider(0, 1, value=0, step=0.01, label=name, elem_id=f"slider-{name}")
                           for name in SLIDERS]  # fmt: skip
            with gr.Column(scale=2):
                viewer = gr.Model3D(label="3D face", elem_id="viewer", height=420)
                with gr.Row():
                    overlay = gr.Image(label="Fit", elem_id="overlay")
                    rendered = gr.Image(label="Albedo x lighting", elem_id="render")
                downloads = gr.File(label="Downloads", file_count="multiple", elem_id="downloads")
        state = gr.State()
        button.click(run, [photo], [viewer, overlay, rendered, downloads, status, state, *sliders])
        for slider in sliders:
            slider.release(repose, [state, *sliders], [viewer])
    return app


def serve(host: str = "127.0.0.1", port: int = 7860, output_root: Path | None = None) -> None:
    from facerecon.pipeline import Reconstructor

    root = output_root or Path(tempfile.mkdtemp(prefix="facerecon_web_"))
    app = build_app(root)
    Reconstructor.shared()  # built before the first upload, not during it; its users share it
    app.launch(server_name=host, server_port=port, max_file_size=f"{MAX_UPLOAD_MB}mb", show_error=True, quiet=True)


def _reconstruct(path: str) -> Reconstruction:
    from facerecon.pipeline import reconstruct

    return reconstruct(path, max_faces=1)[0]


def _with_expression(face: Reconstruction, weights: dict[str, float]) -> Reconstruction:
    """A copy of the reconstruction with some expression weights replaced (vertices re-posed)."""
    from dataclasses import replace

    expression = dict(face.expression) | {k: float(v) for k, v in weights.items()}
    names = list(face.expression)
    old = np.array([face.expression[n] for n in names])
    new = np.array([expression[n] for n in names])
    vertices = face.vertices + np.tensordot(new - old, face.expression_basis, axes=1)
    parts = face.parts
    if parts is not None:
        moved = parts.vertices + np.tensordot(new - old, parts.expression_basis, axes=1)
        parts = replace(parts, vertices=moved.astype(np.float32))
    return replace(face, vertices=vertices.astype(np.float32), expression=expression, parts=parts)


def _user_message(exc: FaceReconError) -> str:
    from facerecon.errors import NoFaceError, UnreadableImageError

    if isinstance(exc, NoFaceError):
        return "No face was found in this photo. Try a photo where the face is clearly visible."
    if isinstance(exc, UnreadableImageError):
        return "This file is not an image we can read (JPEG, PNG, WebP, …)."
    return str(exc).split(": /")[0]  # never echo server paths back
