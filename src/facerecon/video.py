"""Video -> ARKit expression curves and head motion: one identity for the whole clip, per-frame expression
and pose, smoothed in time with a One-Euro filter.

1. Landmarks per frame (MediaPipe, re-detected each frame around the previous face).
2. Identity: independent fits of a few keyframes spread over the clip, then one joint fit that shares the
   identity across them.
3. Per frame: pose and expression with that identity fixed.
4. One-Euro filter (Casiez, Roussel and Vogel, CHI 2012) on expressions, rotation vectors and translations: it smooths
   slow motion strongly and fast motion little, so blinks survive and jitter does not.
Frames without a face hold the nearest detected frame's values and are flagged in the outputs.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from facerecon.camera import PerspectiveCamera, matrix_to_euler
from facerecon.detect.mediapipe_faces import DetectedFace, FaceDetector
from facerecon.errors import (
    InputNotFoundError,
    MissingExtraError,
    NoFaceError,
    NotAFileError,
    UnreadableImageError,
)
from facerecon.fit.gaze import LOOK_RANGE, SIDES, eye_frames, eye_rotations, gaze_angles, look_weights
from facerecon.io.image import LoadedImage
from facerecon.model.face_model import FaceModel
from facerecon.parameters import FitResult
from facerecon.pipeline import Reconstructor
from facerecon.reconstruction import Reconstruction
from facerecon.scene import FaceScene

KEYFRAMES = 8
LOST_TRACK = 0.03  # landmark RMSE / face size above which a tracked frame is fitted afresh
MIN_CUTOFF = 1.0  # Hz: the One-Euro filter's cutoff at rest
BETA = 10.0  # how fast the cutoff rises with speed (tuned: benchmarks/video.py)
DERIVATIVE_CUTOFF = 1.0  # Hz


@dataclass
class VideoReconstruction:
    fps: float
    names: list[str]  # ARKit names, the columns of the expression arrays
    identity: np.ndarray  # (K,) shared by every frame
    expression: np.ndarray  # (T, E) smoothed weights in [0, 1]
    expression_raw: np.ndarray  # (T, E) per-frame fits before smoothing
    rotations: np.ndarray  # (T, 3, 3) smoothed, model -> camera
    translations: np.ndarray  # (T, 3) cm, smoothed
    detected: np.ndarray  # (T,) bool: a face was found in this frame
    landmarks68: np.ndarray  # (T, 68, 2) pixels, projected from the smoothed fit
    gaze: np.ndarray  # (T, 2, 2) degrees: eye_left, eye_right x yaw, pitch from rest (0 where not read)
    camera: PerspectiveCamera
    reference: Reconstruction | None  # the most frontal keyframe, textured (the GLB's); None: curves only
    stats: dict = field(default_factory=dict)

    @property
    def times(self) -> np.ndarray:
        return np.arange(len(self.expression)) / self.fps


def read_video(path: str | Path) -> tuple[Iterator[np.ndarray], float, int]:
    """Frames (RGB uint8) of any video imageio/ffmpeg reads, its frame rate and frame count (estimate)."""
    try:
        import imageio.v2 as imageio
    except ImportError:
        raise MissingExtraError("video needs imageio and imageio-ffmpeg: pip install 'facerecon[video]'") from None

    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"no such file: {path}")
    if not path.is_file():
        raise NotAFileError(f"not a regular file: {path}")
    try:
        reader = imageio.get_reader(str(path), format="FFMPEG")
        meta = reader.get_meta_data()
    except Exception as exc:  # imageio raises many kinds for unreadable data
        raise UnreadableImageError(f"cannot read video {path}: {str(exc).splitlines()[0][:200]}") from None
    fps = float(meta.get("fps") or 25.0)
    count = round(float(meta.get("duration") or 0) * fps)

    def frames() -> Iterator[np.ndarray]:
        try:
            for frame in reader:
                yield np.ascontiguousarray(frame[..., :3])
        finally:
            reader.close()

    return frames(), fps, count


def reconstruct_video(
    frames: Iterator[np.ndarray] | list[np.ndarray],
    fps: float,
    *,
    reconstructor: Reconstructor | None = None,
    keyframes: int = KEYFRAMES,
    smoothing: bool = True,
    textured: bool = True,
    progress: bool = False,
    total: int = 0,
) -> VideoReconstruction:
    """Frames (RGB uint8, any iterable) at `fps` -> one identity, per-frame expression and pose.

    Raises NoFaceError when no frame shows a face. `total` (frame count, if known) feeds the progress bar
    and decides which frames are kept in memory as keyframe candidates. textured=False skips the textured
    reference head (the animated GLB's): the curves alone, the same as with it.
    """
    reconstructor = reconstructor or Reconstructor.shared()
    model, fitter = reconstructor.model, reconstructor.landmark_fitter
    started = time.perf_counter()
    stride = max(1, total // (4 * keyframes)) if total else 1  # frames kept in memory as keyframe candidates
    faces, kept, size = _track_faces(reconstructor.detector, frames, stride, started, total if progress else None)
    detected = np.array([f is not None for f in faces])
    camera = PerspectiveCamera.for_image(*size)

    with torch.enable_grad():
        candidates = np.zeros(len(faces), dtype=bool)
        candidates[list(kept)] = True
        key_ids = _keyframes(candidates, keyframes)
        starts = [fitter.fit(faces[i].landmarks, camera) for i in key_ids]
        identity = fitter.fit_shared_identity([faces[i].landmarks for i in key_ids], camera, starts)
        fits: list[FitResult | None] = []
        previous = None
        for i, face in enumerate(faces):
            fit = None
            if face is not None:
                if previous is not None:
                    fit = fitter.track(face.landmarks, previous)
                if fit is None or _lost(fit, face):  # the first frame, after a gap, or a cut
                    fit = fitter.fit(face.landmarks, camera, identity=identity)
            fits.append(fit)
            previous = fit
            if progress:
                _progress("fitting", i + 1, len(faces), started)
    if progress:
        print(file=sys.stderr)

    raw_expression, rotvecs, translations = _hold_missing(fits)
    gaze = _gaze(model, faces, fits)
    # The eyeLook weights say where the irises look (facerecon.fit.gaze), not what the lids did.
    look = [model.expression_names.index(name) for name in look_weights({})] if model.parts is not None else []
    if look:
        raw_expression[:, look] = _look_columns(gaze)
    expression = raw_expression
    if smoothing:
        expression = np.clip(one_euro(raw_expression, fps), 0.0, 1.0)
        rotvecs = one_euro(rotvecs, fps)
        translations = one_euro(translations, fps)
        # In eyeLook units (LOOK_RANGE degrees per unit): the scale of the weights the filter was tuned on.
        gaze = one_euro(gaze.reshape(len(gaze), -1) / LOOK_RANGE, fps).reshape(gaze.shape) * LOOK_RANGE
        if look:
            expression[:, look] = _look_columns(gaze)
    rotations = Rotation.from_rotvec(rotvecs).as_matrix()

    reference = None
    if textured:
        reference_id = min(key_ids, key=lambda i: abs(matrix_to_euler(fits[i].rotation)[0]))
        reference_fit = replace(fits[reference_id], expression=raw_expression[reference_id])  # its eyeLook weights
        reference = reconstructor.build_reconstruction(
            LoadedImage(kept[reference_id], None, f"frame {reference_id}"), faces[reference_id],
            FaceScene.build(reference_fit, model),
        )  # fmt: skip
    landmarks68 = np.stack([
        _project_landmarks(model, identity, expression[t], rotations[t], translations[t], camera)
        for t in range(len(faces))
    ])  # fmt: skip
    return VideoReconstruction(
        fps=fps,
        names=list(model.expression_names),
        identity=identity,
        expression=expression,
        expression_raw=raw_expression,
        rotations=rotations,
        gaze=gaze,
        translations=translations,
        detected=detected,
        landmarks68=landmarks68,
        camera=camera,
        reference=reference,
        stats={"frames": len(faces), "detected": int(detected.sum()), "keyframes": [int(i) for i in key_ids],
               "seconds": time.perf_counter() - started, "smoothing": "one-euro" if smoothing else "none"},
    )  # fmt: skip


def _track_faces(
    detector: FaceDetector,
    frames: Iterator[np.ndarray] | list[np.ndarray],
    stride: int,
    started: float,
    progress_total: int | None,
) -> tuple[list[DetectedFace | None], dict[int, np.ndarray], tuple[int, int]]:
    """Landmarks per frame (searched around the previous face first, then everywhere), the frames kept as
    keyframe candidates (every `stride`-th with a face), and the frame size (width, height)."""
    faces: list[DetectedFace | None] = []
    kept: dict[int, np.ndarray] = {}
    size, box = None, None
    for i, frame in enumerate(frames):
        size = size or (frame.shape[1], frame.shape[0])
        found = detector.detect(frame, bbox=box, max_faces=1) if box is not None else []
        found = found or detector.detect(frame, max_faces=1)
        face = found[0] if found else None
        faces.append(face)
        box = _grow(face.bbox) if face is not None else None
        if face is not None and i % stride == 0:
            kept[i] = frame
        if progress_total is not None:
            _progress("landmarks", i + 1, progress_total, started)
    if size is None:
        raise UnreadableImageError("the video has no frames")
    if not kept:
        raise NoFaceError("no face found in the frames of the video")
    return faces, kept, size


def one_euro(
    signal: np.ndarray,
    fps: float,
    min_cutoff: float = MIN_CUTOFF,
    beta: float = BETA,
    derivative_cutoff: float = DERIVATIVE_CUTOFF,
) -> np.ndarray:
    """One-Euro filter along axis 0 of (T, D): a low-pass whose cutoff grows with the signal's speed."""
    signal = np.asarray(signal, dtype=np.float64)
    out = np.empty_like(signal)
    out[0] = signal[0]
    derivative = np.zeros(signal.shape[1:])
    dt = 1.0 / fps

    def alpha(cutoff: np.ndarray | float) -> np.ndarray | float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    for t in range(1, len(signal)):
        raw_derivative = (signal[t] - out[t - 1]) / dt
        a_d = alpha(derivative_cutoff)
        derivative = a_d * raw_derivative + (1 - a_d) * derivative
        a = alpha(min_cutoff + beta * np.abs(derivative))
        out[t] = a * signal[t] + (1 - a) * out[t - 1]
    return out


def jitter(signal: np.ndarray) -> float:
    """Mean absolute second difference over time (T, D): high for frame-to-frame noise."""
    return float(np.abs(np.diff(signal, n=2, axis=0)).mean()) if len(signal) > 2 else 0.0


def _keyframes(detected: np.ndarray, count: int) -> list[int]:
    ids = np.flatnonzero(detected)
    picks = np.linspace(0, len(ids) - 1, min(count, len(ids))).round().astype(int)
    return [int(i) for i in ids[np.unique(picks)]]


def _hold_missing(fits: list[FitResult | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, E) expressions, (T, 3) rotation vectors (continuous in sign), (T, 3) translations; frames
    without a fit copy the nearest frame that has one."""
    nearest = _nearest([i for i, f in enumerate(fits) if f is not None], len(fits))
    expression = np.stack([fits[j].expression for j in nearest])
    translation = np.stack([fits[j].translation for j in nearest])
    rotvec = Rotation.from_matrix(np.stack([fits[j].rotation for j in nearest])).as_rotvec()
    return expression, rotvec, translation


def _project_landmarks(
    model: FaceModel, identity: np.ndarray, expression: np.ndarray, rotation: np.ndarray,
    translation: np.ndarray, camera: PerspectiveCamera,
) -> np.ndarray:  # fmt: skip
    fit = FitResult(rotation, translation, identity, expression, camera)
    return fit.to_screen(fit.model_vertices(model.landmarks68_model))[:, :2]


def _gaze(model: FaceModel, faces: list[DetectedFace | None], fits: list[FitResult | None]) -> np.ndarray:
    """(T, 2, 2) eye turns (facerecon.fit.gaze) per frame; frames without a face or an iris hold the
    nearest frame's, or 0 where no frame has one."""
    out = np.full((len(fits), 2, 2), np.nan)
    fitted = [(t, face, fit) for t, (face, fit) in enumerate(zip(faces, fits, strict=True)) if fit is not None]
    if model.parts is not None and fitted:
        # The eyeballs' shape depends on the identity only, which every frame shares.
        frames = eye_frames(model.parts, fitted[0][2].model_vertices(model.parts))
        for t, face, fit in fitted:
            turns = eye_rotations(frames, fit, face.landmarks)
            for k, eye in enumerate(SIDES):
                if eye in turns:
                    out[t, k] = gaze_angles(turns[eye])
    read = np.flatnonzero(~np.isnan(out[:, 0, 0]))
    if not len(read):
        return np.zeros_like(out)
    return np.nan_to_num(out[_nearest(read, len(out))])  # an eye unread where the other was read: 0


def _look_columns(gaze: np.ndarray) -> np.ndarray:
    """(T, 8) the eyeLook weights, in look_weights' order, of (T, 2, 2) eye turns (eye_left, eye_right)."""
    return np.array([list(look_weights(dict(zip(SIDES, turns, strict=True))).values()) for turns in gaze])


def _nearest(have: list[int] | np.ndarray, count: int) -> np.ndarray:
    """For each of `count` frames, the nearest of the frames `have` (itself when it is one of them)."""
    have = np.asarray(have)
    return have[np.abs(np.arange(count)[:, None] - have[None]).argmin(axis=1)]


def _lost(fit: FitResult, face: DetectedFace) -> bool:
    """Whether a tracked fit missed its landmarks by more than LOST_TRACK of the face's size (a cut)."""
    width, height = face.bbox[2:] - face.bbox[:2]
    return not fit.stats["landmark_rmse_px"] <= LOST_TRACK * math.sqrt(width * height)


def _grow(bbox: np.ndarray, factor: float = 1.3) -> np.ndarray:
    centre = (bbox[:2] + bbox[2:]) / 2
    half = (bbox[2:] - bbox[:2]) / 2 * factor
    return np.concatenate([centre - half, centre + half])


def _progress(stage: str, done: int, total: int, started: float) -> None:
    rate = done / max(time.perf_counter() - started, 1e-9)
    if total:
        bar = "#" * int(30 * min(done / total, 1)) + "-" * (30 - int(30 * min(done / total, 1)))
        eta = max(total - done, 0) / max(rate, 1e-9)
        text = f"\r{stage:10s} [{bar}] {done}/{total} {rate:.1f} frames/s, ETA {eta:.0f} s"
    else:
        text = f"\r{stage:10s} {done} frames {rate:.1f} frames/s"
    print(text, end="", file=sys.stderr, flush=True)
