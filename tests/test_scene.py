"""The per-face scene reads a photo through the face's window: a 4x larger photo of the same face must give
the same texture and the same render, at the face's cost rather than the photo's."""

import cv2
import numpy as np
from conftest import SAMPLE

from facerecon.camera import PerspectiveCamera
from facerecon.io.image import load_image
from facerecon.parameters import Appearance, FitResult
from facerecon.scene import SCENE_SIZE, FaceScene
from facerecon.texture.bake import TextureBaker
from facerecon.texture.vertex_colors import sample_vertex_colors


def fit_for(face, width: int, height: int) -> FitResult:
    """The astronaut's fit, seen by the camera of a photo of this size (pixel centres scale about -1/2)."""
    expression = np.array(list(face.expression.values()))
    camera = PerspectiveCamera.for_image(width, height)
    return FitResult(face.pose["rotation"], face.pose["translation"], face.identity, expression, camera)


def test_a_larger_photo_gives_the_same_texture_and_render(astronaut, model):
    face = astronaut[0]
    small = load_image(SAMPLE).pixels
    large = cv2.resize(small, (4 * small.shape[1], 4 * small.shape[0]), interpolation=cv2.INTER_CUBIC)
    baker = TextureBaker(model, 512)
    scenes = [FaceScene.build(fit_for(face, p.shape[1], p.shape[0]), model) for p in (small, large)]
    assert scenes[1].window.side > SCENE_SIZE > scenes[0].window.side / 2  # the large one is read filtered
    textures = [baker.bake(p, s) for p, s in zip((small, large), scenes, strict=True)]
    assert (textures[0].seen == textures[1].seen).mean() > 0.995
    seen = textures[0].seen & textures[1].seen
    diff = textures[0].texture[seen].astype(float) - textures[1].texture[seen].astype(float)
    assert 10 * np.log10(255**2 / np.mean(diff**2)) > 30

    colors = [sample_vertex_colors(p, s) for p, s in zip((small, large), scenes, strict=True)]
    assert (colors[0][1] == colors[1][1]).mean() > 0.995
    both = colors[0][1] & colors[1][1]
    assert np.abs(colors[0][0][both] - colors[1][0][both]).mean() < 0.02

    appearance = Appearance(face.lighting, face.vertex_albedo)
    renders = [s.render_in_photo(appearance) for s in scenes]
    assert renders[1].shape == (*large.shape[:2], 4)
    shrunk = cv2.resize(renders[1], small.shape[1::-1], interpolation=cv2.INTER_AREA)
    covered = (renders[0][..., 3] == 255) & (shrunk[..., 3] == 255)
    assert covered.sum() > 0.95 * (renders[0][..., 3] == 255).sum() > 10_000
    assert np.abs(renders[0][covered, :3].astype(float) - shrunk[covered, :3]).mean() < 4
