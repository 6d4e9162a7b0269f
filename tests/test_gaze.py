"""Gaze from the iris points: the sample's head rendered with its eyeballs turned by known angles; MediaPipe
reads each render, and the eyes turn the same way as in the render, in the eyeLook weights too."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from facerecon.camera import PerspectiveCamera, euler_to_matrix
from facerecon.export.turntable import one_textured_mesh
from facerecon.fit.gaze import LOOK_RANGE, eye_frames, eye_rotations, gaze_angles, look_weights, turn_eyes
from facerecon.parameters import FitResult
from facerecon.pipeline import detect_faces, reconstruct
from facerecon.render.render import over_background, render
from facerecon.render.shade import AMBIENT
from facerecon.video import reconstruct_video

EYES = ("eye_left", "eye_right")


@pytest.fixture(scope="module")
def scene(astronaut, model):
    """The sample's fit, posed frontally in a 512² camera, and a renderer of it with its eyes turned."""
    face = astronaut[0]
    expression = np.array(list(face.expression.values()))
    camera = PerspectiveCamera.for_image(512, 512)
    fit = FitResult(euler_to_matrix(0, 5, 0), np.array([0.0, -3.0, -45.0]), face.identity, expression, camera)
    rest = fit.model_vertices(model.parts)

    def rendered(yaw: float, pitch: float) -> np.ndarray:
        truth = dict.fromkeys(EYES, euler_to_matrix(yaw, pitch, 0))
        turned = replace(face, parts=replace(face.parts, vertices=turn_eyes(model.parts, rest, truth)))
        vertices, faces, surface = one_textured_mesh(turned.meshes)
        with torch.no_grad():
            out = render(torch.from_numpy(fit.to_camera(vertices)).float(), faces, camera, surface, AMBIENT)
        return np.rint(over_background(out, 128.0)).astype(np.uint8)

    return fit, rest, rendered


@pytest.fixture(scope="module")
def read_gaze(scene, model):
    """(yaw, pitch) of the eyes -> the mean (yaw, pitch) read back from a render of them."""
    fit, rest, rendered = scene

    def read(yaw: float, pitch: float) -> np.ndarray:
        found = detect_faces(rendered(yaw, pitch), max_faces=1)
        assert found and found[0].landmarks is not None
        rotations = eye_rotations(eye_frames(model.parts, rest), fit, found[0].landmarks)
        return np.mean([gaze_angles(rotations[eye]) for eye in EYES], axis=0)

    return read


@pytest.mark.parametrize("yaw, pitch", [(20, 0), (-20, 0), (0, 15), (0, -15)])
def test_eyes_turn_where_the_rendered_irises_look(read_gaze, yaw, pitch):
    # MediaPipe reads the irises of our renders short (by about a third) and with an offset: compared with
    # the straight gaze's reading, the eyes must turn the right way, by a clear part of the truth.
    moved = read_gaze(yaw, pitch) - read_gaze(0, 0)
    turned, other = (0, 1) if yaw else (1, 0)
    truth = yaw or pitch
    assert moved[turned] * np.sign(truth) > abs(truth) / 4, moved
    assert abs(moved[other]) < abs(moved[turned]), moved


def test_video_follows_the_eyes(scene):
    """A clip whose eyes look left, then right: the per-frame gaze (the Live Link CSV's eye columns)."""
    _, _, rendered = scene
    clip = [rendered(-20, 0)] * 6 + [rendered(20, 0)] * 6
    video = reconstruct_video(clip, 25.0, smoothing=False)
    yaw = video.gaze[:, :, 0].mean(axis=1)
    assert yaw[6:].mean() - yaw[:6].mean() > 10, yaw


# A render's gaze, the eyeLook weights it raises and those it lowers (the subject's left is out for the left eye).
LOOKS = {(20, 0): (("eyeLookOutLeft", "eyeLookInRight"), ("eyeLookInLeft", "eyeLookOutRight")),
         (0, 15): (("eyeLookDownLeft", "eyeLookDownRight"), ("eyeLookUpLeft", "eyeLookUpRight"))}  # fmt: skip


@pytest.fixture(scope="module")
def look_of(scene):
    """The eyeLook weights the pipeline gives renders of each gaze in LOOKS and of its opposite."""
    _, _, rendered = scene
    looks = {}
    for yaw, pitch in [*LOOKS, *((-yaw, -pitch) for yaw, pitch in LOOKS)]:
        face = reconstruct(rendered(yaw, pitch), max_faces=1, fast=True, texture_size=256)[0]
        looks[yaw, pitch] = face.expression
    return looks


@pytest.mark.parametrize("gaze", list(LOOKS))
def test_eye_look_weights_follow_the_irises(look_of, gaze):
    # MediaPipe reads our renders' irises short, vertical turns most (a look down behind unmoved lids moves
    # the iris points little), and with an offset: so each gaze is compared with its opposite.
    raised, lowered = LOOKS[gaze]

    def towards(weights: dict) -> float:
        return sum(weights[name] for name in raised) - sum(weights[name] for name in lowered)

    there, back = look_of[gaze], look_of[tuple(-g for g in gaze)]
    assert towards(there) - towards(back) > 0.3, (there, back)  # 0.3: 4.5° per eye, for turns of ±15-20°
    assert all(there[name] >= back[name] for name in raised) and all(there[name] <= back[name] for name in lowered)


def test_eye_look_shapes_turn_the_eyeballs(astronaut, model):
    """The eyes mesh's eyeLookOutLeft target turns the left eyeball alone, rigidly, by LOOK_RANGE towards the
    subject's left; the GLB's neutral eyes (the OBJ's, less the weighted targets) are the unturned ones."""
    face = astronaut[0]
    eyes = face.meshes[1]
    names, weights = list(face.expression), np.array(list(face.expression.values()), dtype=np.float32)
    target = eyes.expression_basis[names.index("eyeLookOutLeft")]
    camera = PerspectiveCamera.for_image(512, 512)
    rest = FitResult(np.eye(3), np.zeros(3), face.identity, np.zeros(len(names)), camera).model_vertices(model.parts)
    rest = rest[np.union1d(model.parts.vertices_of("eye_left"), model.parts.vertices_of("eye_right"))]
    left = rest[:, 0] > 0  # model +X is the subject's left
    assert np.abs(target[~left]).max() == 0
    before, after = rest[left], rest[left] + target[left]
    turn, residual = Rotation.align_vectors(after - after.mean(0), before - before.mean(0))
    assert residual < 1e-3 and abs(np.degrees(turn.magnitude()) - LOOK_RANGE) < 0.1
    assert turn.apply([0.0, 0.0, 1.0])[0] > 0.4  # looking out: towards +X
    neutral = eyes.vertices - np.tensordot(weights, eyes.expression_basis, axes=1)
    assert np.abs(neutral - rest).max() < 0.08  # cm: straight morph lines against the turns' arcs (<1 mm)
    gaze = face.parts.gaze
    assert set(gaze) == {"eye_left", "eye_right"} and look_weights(gaze).items() <= face.expression.items()
