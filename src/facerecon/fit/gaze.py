"""Gaze from MediaPipe's iris points: each eyeball turned about its centre so its iris lands where the photo's is.

The fitted head places each eyeball (PartsModel.eye_frame: the sphere through its vertices, the axis to its
cornea); the ray through the photo's iris centre meets that sphere where the iris is, and the turn from the
rest axis to that point is the eye's rotation (in model space, within MAX_GAZE). ICT's eyeLook shapes move
only the lids, so the eyeballs are turned here.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from facerecon.model.face_model import PartsModel
from facerecon.parameters import FitResult

MAX_GAZE = 35.0  # degrees: beyond this the iris points are not trusted
IRIS_CENTRES = {"eye_left": 473, "eye_right": 468}  # MediaPipe: the subject's left iris is in the image's right


def eye_rotations(parts: PartsModel, vertices: np.ndarray, fit: FitResult, landmarks: np.ndarray | None) -> dict:
    """{eye: (3, 3) model-space rotation about its centre} for the eyes whose iris MediaPipe found."""
    if landmarks is None or len(landmarks) <= max(IRIS_CENTRES.values()):
        return {}
    rotations = {}
    for eye, point in IRIS_CENTRES.items():
        centre, axis, radius = parts.eye_frame(vertices, eye)
        camera_centre = fit.to_camera(centre[None])[0]
        ray = _pixel_ray(fit, landmarks[point, :2])
        # The nearer intersection of the ray (through the camera at the origin) with the eyeball; where it
        # misses (noise), the ray's closest point to the centre, pushed onto the sphere.
        along = ray @ camera_centre
        miss = camera_centre - along * ray
        inside = radius**2 - miss @ miss
        hit = (along - np.sqrt(inside)) * ray if inside > 0 else camera_centre + radius * (-miss / np.linalg.norm(miss))
        looking = fit.rotation.T @ (hit - camera_centre)  # back to model space
        turn, _ = Rotation.align_vectors([looking / np.linalg.norm(looking)], [axis])
        angle = np.degrees(turn.magnitude())
        if angle > MAX_GAZE:
            turn = Rotation.from_rotvec(turn.as_rotvec() * MAX_GAZE / angle)
        rotations[eye] = turn.as_matrix()
    return rotations


def gaze_angles(rotation: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) in degrees of an eye's rotation, with the signs of the head's pose angles."""
    forward = rotation @ np.array([0.0, 0.0, 1.0])
    yaw = np.degrees(np.arctan2(forward[0], forward[2]))
    pitch = np.degrees(np.arcsin(np.clip(-forward[1], -1, 1)))
    return float(yaw), float(pitch)


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
