"""Pictures with known truth: clips for measuring the video path (tests and benchmarks/video.py) and posed
heads of known shape (benchmarks/shape.py, tools/calibrate_mediapipe.py)."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from facerecon.camera import PerspectiveCamera, euler_to_matrix
from facerecon.model.face_model import FaceModel
from facerecon.reconstruction import Reconstruction
from facerecon.render.render import Surface, over_background, render

BACKGROUND = 120


def still_clip(photo: np.ndarray, centre: tuple[float, float], frames: int = 40) -> list[np.ndarray]:
    """A still photo slowly rotated by 16 degrees about `centre` and zoomed by 20 %: a face that does not
    move, so every expression weight should stay put."""
    h, w = photo.shape[:2]
    out = []
    for t in range(frames):
        warp = cv2.getRotationMatrix2D(centre, -8 + 16 * t / (frames - 1), 1.0 + 0.2 * t / (frames - 1))
        out.append(cv2.warpAffine(photo, warp, (w, h), borderMode=cv2.BORDER_REFLECT))
    return out


def animated_clip(model: FaceModel, textured: Reconstruction, weights: np.ndarray, size: int = 400) -> list[np.ndarray]:
    """Our model with `textured`'s identity and texture, posed slightly off-frontal, rendered once per row
    of `weights` (T, E): a clip whose expression curves are known exactly."""
    camera = PerspectiveCamera.for_image(size, size)
    surface = Surface.textured(textured.texture, textured.uv, textured.face_uv)
    rotation = torch.from_numpy(euler_to_matrix(10, 5, 0)).float()
    identity = torch.from_numpy(np.asarray(textured.identity)).float()[None]
    faces = torch.from_numpy(model.faces)
    frames = []
    with torch.no_grad():
        for w in weights:
            vertices = model(identity, torch.from_numpy(w).float()[None])[0] @ rotation.T
            out = render(vertices + torch.tensor([0, 1.0, -70.0]), faces, camera, surface)
            frame = over_background(out, BACKGROUND)
            frames.append(frame.astype(np.uint8))
    return frames


def neutral_shape(model: FaceModel, identity: np.ndarray) -> np.ndarray:
    """The model's vertices (V, 3) for `identity` with no expression, float64."""
    with torch.no_grad():
        shape = model(torch.from_numpy(np.asarray(identity)).float()[None], torch.zeros(1, model.n_expression))
    return shape[0].double().numpy()


def posed_head(
    model: FaceModel, shape: np.ndarray, look: Reconstruction, yaw: float, pitch: float, size: int = 512,
    distance: float = 60.0,
) -> tuple[np.ndarray, np.ndarray, PerspectiveCamera]:  # fmt: skip
    """The head `shape` (model-space vertices) wearing `look`'s de-lit albedo texture under its lighting,
    turned by yaw and pitch (degrees), `distance` cm from the camera, rendered at size² over grey: the
    picture (uint8), the head's camera-space vertices (V, 3) and the camera."""
    camera = PerspectiveCamera.for_image(size, size)
    surface = Surface.textured(look.albedo_texture, look.uv, look.face_uv)
    vertices = shape @ euler_to_matrix(yaw, pitch, 0).T + np.array([0.0, 1.0, -distance])
    with torch.no_grad():
        out = render(torch.from_numpy(vertices).float(), torch.from_numpy(model.faces), camera, surface,
                     lighting=torch.from_numpy(np.asarray(look.lighting)).float())  # fmt: skip
    return over_background(out, BACKGROUND).astype(np.uint8), vertices, camera


def example_curves(names: list[str], frames: int = 40) -> np.ndarray:
    """(T, E) weights: the jaw opens and closes twice, a smile rises and falls once."""
    t = np.arange(frames)
    weights = np.zeros((frames, len(names)))
    weights[:, names.index("jawOpen")] = 0.35 * (1 - np.cos(2 * np.pi * t / 20))
    smile = 0.8 * np.clip(np.sin(2 * np.pi * t / 40), 0, 1)
    weights[:, names.index("mouthSmileLeft")] = smile
    weights[:, names.index("mouthSmileRight")] = smile
    return weights


ANIMATED = ("jawOpen", "mouthSmileLeft", "mouthSmileRight")
SAMPLE_FACE_CENTRE = (225.0, 110.0)  # where the face is in the bundled sample photo
