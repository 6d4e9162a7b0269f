"""Gaze from MediaPipe's iris points: each eyeball turned about its centre so its iris lands where the photo's is.

The fitted head places each eyeball (PartsModel.eye_frame: the sphere through its vertices, the axis to its
cornea); the ray through the photo's iris centre meets that sphere where the iris is, and the turn from the
rest axis to that point is the eye's rotation (in model space, within MAX_GAZE). The turns are carried as
ARKit's eight eyeLook weights (LOOK_RANGE degrees at weight 1), the one record of the gaze that the skin's
lids, the eyeballs and every export read. ICT's eyeLook shapes move only the lids, so the eyeballs' own
eyeLook shapes are made here: each eyeball turned by LOOK_RANGE about its centre.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.spatial.transform import Rotation

from facerecon.camera import euler_to_matrix
from facerecon.model.face_model import PartsModel
from facerecon.parameters import FitResult

MAX_GAZE = 35.0  # degrees: beyond this the iris points are not trusted
IRIS_CENTRES = {"eye_left": 473, "eye_right": 468}  # MediaPipe: the subject's left iris is in the image's right
# Degrees of eyeball turn that an eyeLook weight of 1 stands for (ARKit's shapes saturate at about 30°).
LOOK_RANGE = 30.0
SIDES = {"eye_left": "Left", "eye_right": "Right"}  # ARKit's names: the subject's own side


# An eyeball's centre (3,), unit axis to its cornea (3,) and radius, in model space (PartsModel.eye_frame).
EyeFrame = tuple[np.ndarray, np.ndarray, float]


def eye_frames(parts: PartsModel, vertices: np.ndarray) -> dict[str, EyeFrame]:
    """{eye: its frame} at these part vertices (P, 3)."""
    return {eye: parts.eye_frame(vertices, eye) for eye in IRIS_CENTRES}


def eye_rotations(frames: dict[str, EyeFrame], fit: FitResult, landmarks: np.ndarray | None) -> dict:
    """{eye: (3, 3) model-space rotation about its centre} for the eyes whose iris MediaPipe found."""
    if landmarks is None or len(landmarks) <= max(IRIS_CENTRES.values()):
        return {}
    rotations = {}
    for eye, point in IRIS_CENTRES.items():
        centre, axis, radius = frames[eye]
        camera_centre = fit.to_camera(centre[None])[0]
        ray = _pixel_ray(fit, landmarks[point, :2])
        # The nearer intersection of the ray (through the camera at the origin) with the eyeball; where it
        # misses (noise), the ray's closest point to the centre, pushed onto the sphere.
        along = ray @ camera_centre
        miss = camera_centre - along * ray
        inside = radius**2 - miss @ miss
        hit = (along - np.sqrt(inside)) * ray if inside > 0 else camera_centre + radius * (-miss / np.linalg.norm(miss))
        looking = fit.rotation.T @ (hit - camera_centre)  # back to model space
        # The smallest turn from the rest axis to that direction, at most MAX_GAZE.
        normal = np.cross(axis, looking)
        sine = np.linalg.norm(normal)
        angle = min(np.arctan2(sine, axis @ looking), np.radians(MAX_GAZE))
        rotations[eye] = Rotation.from_rotvec(normal / max(sine, 1e-12) * angle).as_matrix()
    return rotations


def read_gaze(parts: PartsModel, fit: FitResult, landmarks: np.ndarray | None) -> dict[str, tuple[float, float]]:
    """{eye: (yaw, pitch)} degrees that the photo's irises show, for the eyes whose iris MediaPipe found."""
    rotations = eye_rotations(eye_frames(parts, fit.model_vertices(parts)), fit, landmarks)
    return {eye: gaze_angles(rotation) for eye, rotation in rotations.items()}


def looking(fit: FitResult, names: list[str], gaze: dict[str, tuple[float, float]]) -> FitResult:
    """The fit with its eyeLook weights (in `names` order) set to the gaze; an eye not in it looks ahead."""
    expression = fit.expression.copy()
    for name, weight in look_weights(gaze).items():
        expression[names.index(name)] = weight
    return replace(fit, expression=expression)


def gaze_angles(rotation: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) in degrees of an eye's rotation, with the signs of the head's pose angles."""
    forward = rotation @ np.array([0.0, 0.0, 1.0])
    yaw = np.degrees(np.arctan2(forward[0], forward[2]))
    pitch = np.degrees(np.arcsin(np.clip(-forward[1], -1, 1)))
    return float(yaw), float(pitch)


def look_weights(gaze: dict[str, tuple[float, float]]) -> dict[str, float]:
    """The eight eyeLook weights of the eyes' (yaw, pitch) turns in degrees; an eye not in `gaze` looks ahead.
    Positive yaw looks to the subject's left: out for the left eye, in for the right one; positive pitch
    looks down."""
    weights = {}
    for eye, side in SIDES.items():
        yaw, pitch = np.asarray(gaze.get(eye, (0.0, 0.0))) / LOOK_RANGE
        outward = yaw if eye == "eye_left" else -yaw
        turns = {"Out": outward, "In": -outward, "Down": pitch, "Up": -pitch}
        weights |= {f"eyeLook{way}{side}": float(np.clip(turn, 0.0, 1.0)) for way, turn in turns.items()}
    return weights


def look_gaze(weights: dict[str, float]) -> dict[str, tuple[float, float]]:
    """The eyes' (yaw, pitch) turns in degrees that eyeLook weights stand for (look_weights' inverse)."""
    gaze = {}
    for eye, side in SIDES.items():
        outward = weights[f"eyeLookOut{side}"] - weights[f"eyeLookIn{side}"]
        pitch = weights[f"eyeLookDown{side}"] - weights[f"eyeLookUp{side}"]
        gaze[eye] = (LOOK_RANGE * (outward if eye == "eye_left" else -outward), LOOK_RANGE * pitch)
    return gaze


def look_rotations(gaze: dict[str, tuple[float, float]]) -> dict[str, np.ndarray]:
    """{eye: (3, 3) model-space turn} of (yaw, pitch) degrees: the inverse of gaze_angles."""
    return {eye: euler_to_matrix(yaw, pitch, 0.0) for eye, (yaw, pitch) in gaze.items()}


def look_targets(parts: PartsModel, vertices: np.ndarray) -> dict[str, np.ndarray]:
    """{eyeLook name: (P, 3) offsets}: the eyeballs' own eyeLook shapes, each its eyeball turned by LOOK_RANGE
    (a morph target moves vertices along straight lines: at weight 0.5 the cornea sits ~0.4 mm inside the
    eyeball turned by 15°)."""
    targets, ahead = {}, look_weights({})
    for name in ahead:
        eye = next(e for e, side in SIDES.items() if name.endswith(side))  # only that eyeball turns
        turn = look_rotations({eye: look_gaze(ahead | {name: 1.0})[eye]})
        targets[name] = turn_eyes(parts, vertices, turn) - vertices
    return targets


def turn_eyes(parts: PartsModel, vertices: np.ndarray, rotations: dict) -> np.ndarray:
    """The part vertices (P, 3) with each eyeball turned about its centre."""
    out = vertices.copy()
    for eye, rotation in rotations.items():
        ids = parts.vertices_of(eye)
        centre, _, _ = parts.eye_frame(vertices, eye)
        out[ids] = (vertices[ids] - centre) @ rotation.T + centre
    return out


def _pixel_ray(fit: FitResult, pixel: np.ndarray) -> np.ndarray:
    """Unit direction in camera space (looking down -Z) through a photo pixel."""
    camera = fit.camera
    direction = np.array([(pixel[0] - camera.cx) / camera.focal, -(pixel[1] - camera.cy) / camera.focal, -1.0])
    return direction / np.linalg.norm(direction)
