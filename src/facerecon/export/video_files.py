"""A video reconstruction's files: ARKit CSV (Live Link Face layout), animated GLB, per-frame JSON lines,
overlay MP4. Written atomically like every other output."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from facerecon.camera import matrix_to_euler
from facerecon.errors import OutputError
from facerecon.export.files import write_files_atomically
from facerecon.export.glb import Animation, export_glb
from facerecon.video import VideoReconstruction

HEAD_AND_EYES = ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll", "RightEyeYaw",
                 "RightEyePitch", "RightEyeRoll")  # fmt: skip


def arkit_csv(video: VideoReconstruction) -> str:
    """Live Link Face's CSV: Timecode (HH:MM:SS:FF.mmm), BlendShapeCount (61), the 52 ARKit shapes with Live
    Link Face's capitalised spelling (eyeBlinkLeft -> EyeBlinkLeft), then head and eye rotations in radians.

    Head yaw, pitch and roll are the fitted pose's (facerecon.camera's angles; ARKit's face axes are ours:
    +X the subject's left, +Y up, +Z out of the face). The eyes' yaw and pitch are their turns from rest read
    from MediaPipe's iris points (facerecon.fit.gaze; ARKit's leftEye is the subject's left); roll is 0.
    """
    header = ["Timecode", "BlendShapeCount"] + [name[0].upper() + name[1:] for name in video.names]
    rows = [",".join([*header, *HEAD_AND_EYES])]
    fps = video.fps
    count = len(video.names) + len(HEAD_AND_EYES)
    for t, (weights, rotation, gaze) in enumerate(zip(video.expression, video.rotations, video.gaze, strict=True)):
        seconds = t / fps
        h, m, s = int(seconds // 3600), int(seconds // 60 % 60), int(seconds % 60)
        frame = round((seconds - int(seconds)) * fps)
        head = np.radians(matrix_to_euler(rotation))
        eyes = [angle for yaw, pitch in np.radians(gaze) for angle in (yaw, pitch, 0.0)]
        values = ",".join(f"{w:.5f}" for w in [*weights, *head, *eyes])
        rows.append(f"{h:02d}:{m:02d}:{s:02d}:{frame:02d}.000,{count},{values}")
    return "\n".join(rows) + "\n"


def frames_jsonl(video: VideoReconstruction) -> str:
    lines = []
    for t in range(len(video.expression)):
        yaw, pitch, roll = matrix_to_euler(video.rotations[t])
        record = {
            "frame": t,
            "time": round(t / video.fps, 5),
            "face_detected": bool(video.detected[t]),
            "pose": {"yaw": round(yaw, 3), "pitch": round(pitch, 3), "roll": round(roll, 3),
                     "rotation": np.round(video.rotations[t], 6).tolist(),
                     "translation": np.round(video.translations[t], 4).tolist()},
            "expression": {n: round(float(w), 5) for n, w in zip(video.names, video.expression[t], strict=True)},
            "gaze": {eye: np.round(video.gaze[t, k], 2).tolist() for k, eye in enumerate(("eye_left", "eye_right"))},
            "landmarks68": np.round(video.landmarks68[t], 2).tolist(),
        }  # fmt: skip
        lines.append(json.dumps(record, allow_nan=False))
    return "\n".join(lines) + "\n"


def animated_glb(video: VideoReconstruction) -> bytes:
    animation = Animation(video.times, video.expression, video.rotations, video.translations)
    return export_glb(video.reference, animation)


def save_video(video: VideoReconstruction, outdir: Path, stem: str, frames: Iterator[np.ndarray] | None) -> list[Path]:
    """<stem>_arkit.csv, <stem>_frames.jsonl, <stem>.json (summary), <stem>.glb where the video has its
    textured reference head and, given the frames again, <stem>_overlay.mp4."""
    summary = {
        "fps": video.fps,
        "identity": np.round(video.identity, 5).tolist(),
        "camera": video.camera.as_dict(),
        "stats": video.stats,
        "units": "cm",
    }
    contents = {
        f"{stem}_arkit.csv": arkit_csv(video).encode(),
        f"{stem}_frames.jsonl": frames_jsonl(video).encode(),
        f"{stem}.json": (json.dumps(summary, indent=1) + "\n").encode(),
    }
    if video.reference is not None:
        contents[f"{stem}.glb"] = animated_glb(video)
    written = write_files_atomically(outdir, contents)
    if frames is not None:
        written.append(write_overlay_mp4(video, frames, outdir / f"{stem}_overlay.mp4"))
    return written


def write_overlay_mp4(video: VideoReconstruction, frames: Iterator[np.ndarray], path: Path) -> Path:
    """The 68 smoothed landmarks over each frame, H.264 (ffmpeg from imageio-ffmpeg)."""
    import cv2
    import imageio.v2 as imageio

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".mp4")
    os.close(fd)
    try:
        with imageio.get_writer(tmp, format="FFMPEG", fps=video.fps, codec="libx264", quality=7,
                                macro_block_size=2, ffmpeg_log_level="error") as writer:  # fmt: skip
            for t, frame in enumerate(frames):
                if t >= len(video.landmarks68):
                    break
                out = frame.copy()
                colour = (60, 230, 90) if video.detected[t] else (230, 160, 40)
                for x, y in video.landmarks68[t]:
                    cv2.circle(out, (round(x), round(y)), max(2, round(max(out.shape[:2]) / 320)), colour, -1)
                writer.append_data(out)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
