"""The baked texture of a turned face: the unseen side comes from the seen side's mirror image without a
step in colour where the two meet, nothing is mirrored onto the side or back of the head, and the UV
layout's seams show no step; the parts' texture takes the photo's iris and teeth."""

import cv2
import numpy as np
from conftest import SAMPLE, shared_path

import facerecon
from facerecon.camera import PerspectiveCamera
from facerecon.datasets import annotated_faces
from facerecon.detect.mediapipe_faces import INNER_LIPS
from facerecon.export.ply import vertex_colors
from facerecon.fit.gaze import IRIS_CENTRES
from facerecon.io.image import load_image
from facerecon.metrics import bbox_of
from facerecon.parameters import FitResult
from facerecon.render.rasterize import rasterize
from facerecon.scene import FaceScene
from facerecon.texture.bake import BORDER_SIGMA, TextureBaker, local_mean
from facerecon.texture.parts import COLOURS, photo_look

TURNED = "14424972_1.jpg"  # AFW, yaw ~40°: a third of the face is hidden


def test_mirrored_side_meets_the_seen_side_without_a_step(model):
    photo, truth = next((p, t) for p, t in annotated_faces(shared_path("faces/afw")) if p.name == TURNED)
    face = facerecon.reconstruct(photo, bbox=bbox_of(truth), fast=True)[0]
    assert abs(face.pose["yaw"]) > 30
    expression = np.array(list(face.expression.values()))
    fit = FitResult(face.pose["rotation"], face.pose["translation"], face.identity, expression,
                    PerspectiveCamera(**face.camera))  # fmt: skip
    baker = TextureBaker(model, 512)
    baked = baker.bake(load_image(photo).pixels, FaceScene.build(fit, model))
    assert baked.mirrored.sum() > 0.1 * baked.seen.sum()  # the hidden side was filled from the seen one
    texture = baked.texture.astype(np.float32)
    border = baked.mirrored & cv2.dilate(baked.seen.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    sigma = BORDER_SIGMA / 2
    step = np.abs(local_mean(texture, baked.seen, sigma) - local_mean(texture, baked.mirrored, sigma))[border].mean()
    assert step < 25, step  # ~40 grey levels without the border matching

    # Only the face region takes mirrored colours: the photo shows nothing of the far side of the head.
    uv = np.column_stack([model.uv[:, 0] * 512 - 0.5, (1 - model.uv[:, 1]) * 512 - 0.5, np.ones(len(model.uv))])
    texels = rasterize(uv, model.face_uv, 512, 512)
    head_only = texels.mask & (texels.tri >= model.n_face_triangles)
    assert head_only.sum() > 10_000 and not (baked.mirrored & head_only).any()


def test_a_smiles_teeth_stay_off_the_lips(astronaut, model):
    """The sample smiles with her teeth showing; the photo's pixels inside the inner lip line are not lip."""
    texture = astronaut[0].texture
    size = texture.shape[0]
    uv = np.einsum("nk,nkd->nd", model.landmarks68.bary, model.uv[model.face_uv[model.landmarks68.tri]])
    outer_lips = np.column_stack([uv[48:60, 0] * size, (1 - uv[48:60, 1]) * size]).astype(np.int32)
    lips = cv2.fillPoly(np.zeros((size, size), np.uint8), [outer_lips], 1).astype(bool)
    colours = texture[lips].astype(int)
    teeth_white = (colours.min(axis=1) > 150) & (np.ptp(colours, axis=1) < 40)
    assert lips.sum() > 5000 and teeth_white.mean() < 0.02  # 11 % before the inner lip line was used


def seam_steps(texture: np.ndarray, faces: np.ndarray, face_uv: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Per vertex that the UV layout splits (one surface point at two or more places in the texture), the
    largest colour difference (grey levels) between its texture places, each read just inside its triangles."""
    size = texture.shape[0]
    corners = uv[face_uv]  # (F, 3, 2)
    inside = 0.85 * corners + 0.15 * corners.mean(axis=1, keepdims=True)
    x = np.clip(np.rint(inside[..., 0] * size - 0.5), 0, size - 1).astype(int)
    y = np.clip(np.rint((1 - inside[..., 1]) * size - 0.5), 0, size - 1).astype(int)
    colour = texture[y, x].astype(np.float64).reshape(-1, 3)
    vertex, place = faces.ravel(), face_uv.ravel()
    split = np.flatnonzero(np.bincount(np.unique(np.column_stack([vertex, place]), axis=0)[:, 0]) > 1)
    steps = []
    for v in split:
        places = place[vertex == v]
        means = np.array([colour[(vertex == v) & (place == p)].mean(axis=0) for p in np.unique(places)])
        steps.append(np.abs(means[:, None] - means[None]).max())
    return np.array(steps)


def test_no_step_where_the_uv_layout_splits_the_head(astronaut, model):
    """The face's UV tile meets the head's along a seam over the ears and the scalp: the same surface point
    has the same colour on both sides (a fill in the texture made a step there, seen from the side)."""
    face = astronaut[0]
    steps = seam_steps(face.texture, model.faces, model.face_uv, model.uv)
    assert len(steps) > 100 and np.median(steps) < 6 and np.percentile(steps, 90) < 20, np.percentile(steps, [50, 90])


def test_the_parts_take_the_photos_iris_size_and_teeth(astronaut, model):
    """The sample smiles with her teeth showing: the teeth take their colour from the photo; an iris drawn
    20 % wider takes more of the eyeball; a shut mouth (its inner lip line collapsed) keeps the default teeth."""
    face = astronaut[0]
    pixels, landmarks = load_image(SAMPLE).pixels, face.landmarks478
    look = photo_look(pixels, landmarks)
    assert look.teeth != COLOURS["teeth"] and min(look.teeth) > 150, look
    teeth = model.parts.vertices_of("teeth")
    assert (face.parts.vertex_colors[teeth] == look.teeth).all()
    wider = landmarks.copy()
    for centre in IRIS_CENTRES.values():
        rim = slice(centre + 1, centre + 5)
        wider[rim, :2] = landmarks[centre, :2] + 1.2 * (landmarks[rim, :2] - landmarks[centre, :2])
    assert photo_look(pixels, wider).iris_angle > look.iris_angle + 3, look
    shut = landmarks.copy()
    shut[INNER_LIPS, 1] = landmarks[INNER_LIPS, 1].mean()
    assert photo_look(pixels, shut).teeth == COLOURS["teeth"]


def test_the_unseen_scalp_takes_the_hair_colour(astronaut, model):
    """The sample's hair shows on the top of her head, not at its back: the back of the scalp takes the hair's
    colour (a fill spread from the hairline alone left it ~45 grey levels darker, push-pull in the texture ~70)."""
    colour = vertex_colors(astronaut[0].meshes[0]).astype(np.float64)  # the skin's texture at each vertex
    mean = model.mean.numpy()
    head_tile = np.arange(len(mean)) >= model.n_face_vertices
    top_front = head_tile & (mean[:, 1] > 11) & (mean[:, 2] > 2)  # seen in the frontal photo: her hair
    back = head_tile & (mean[:, 1] > 5) & (mean[:, 2] < -4)  # never seen
    assert top_front.sum() > 20 and back.sum() > 100
    hair, filled = np.median(colour[top_front], axis=0), np.median(colour[back], axis=0)
    assert np.abs(filled - hair).max() < 30, (hair, filled)


def test_the_gutters_between_uv_islands_carry_the_islands_colours(astronaut, model):
    """A viewer samples the texture bilinearly and from mip-maps, which mix an island's edge with the gutter
    around it: an 8x smaller texture must keep the islands' own colours where it covers their edges."""
    texture, albedo = astronaut[0].texture, astronaut[0].albedo_texture
    size = texture.shape[0]
    uv = np.column_stack([model.uv[:, 0] * size - 0.5, (1 - model.uv[:, 1]) * size - 0.5, np.ones(len(model.uv))])
    islands = rasterize(uv, model.face_uv, size, size).mask.astype(np.float32)
    small = (size // 8, size // 8)
    coverage = cv2.resize(islands, small, interpolation=cv2.INTER_AREA)
    edges = (coverage > 0.2) & (coverage < 0.8)  # the cells where islands meet gutters
    assert edges.sum() > 100
    for image in (texture, albedo):
        image = image.astype(np.float32)
        mipmap = cv2.resize(image, small, interpolation=cv2.INTER_AREA)
        own = cv2.resize(image * islands[..., None], small, interpolation=cv2.INTER_AREA) / coverage[..., None].clip(
            1e-6
        )
        assert np.abs(mipmap - own)[edges].mean() < 4  # black gutters: ~30 grey levels
