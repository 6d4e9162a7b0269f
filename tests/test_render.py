"""The differentiable CPU renderer and the photometric stage."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from facerecon.camera import PerspectiveCamera, euler_to_matrix
from facerecon.fit.skin_mask import skin_mask
from facerecon.metrics import masked_psnr
from facerecon.model.surface import vertex_normals
from facerecon.parameters import FitResult
from facerecon.render.rasterize import barycentrics, interpolate, rasterize
from facerecon.render.render import Surface, render
from facerecon.render.shade import AMBIENT, sh_basis, sh_shade, soft_coverage


def icosphere(subdivisions: int = 3) -> tuple[np.ndarray, np.ndarray]:
    t = (1 + 5**0.5) / 2
    v = [[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t], [0, -1, -t], [0, 1, -t],
         [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]]  # fmt: skip
    f = [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4], [11, 10, 2],
         [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9], [4, 9, 5], [2, 4, 11],
         [6, 2, 10], [8, 6, 7], [9, 8, 1]]  # fmt: skip
    vertices = [np.array(p, dtype=float) / np.linalg.norm(p) for p in v]
    faces = f
    cache: dict[tuple[int, int], int] = {}

    def mid(a: int, b: int) -> int:
        key = (min(a, b), max(a, b))
        if key not in cache:
            m = vertices[a] + vertices[b]
            vertices.append(m / np.linalg.norm(m))
            cache[key] = len(vertices) - 1
        return cache[key]

    for _ in range(subdivisions):
        cache.clear()

        faces = [tri for a, b, c in faces
                 for tri in ([a, mid(a, b), mid(c, a)], [b, mid(b, c), mid(a, b)], [c, mid(c, a), mid(b, c)],
                             [mid(a, b), mid(b, c), mid(c, a)])]  # fmt: skip
    return np.array(vertices), np.array(faces)


def test_sphere_silhouette_matches_analytic_circle():
    vertices, faces = icosphere(4)
    radius, distance = 5.0, 40.0
    camera = PerspectiveCamera(focal=300.0, cx=99.5, cy=99.5, width=200, height=200)
    cam_vertices = torch.from_numpy(vertices * radius + [0, 0, -distance])
    frags = rasterize(camera.to_screen(cam_vertices).numpy(), faces, 200, 200)
    # A sphere on the optical axis projects to a disc of radius f * r / sqrt(d² - r²).
    disc_radius = camera.focal * radius / np.sqrt(distance**2 - radius**2)
    ys, xs = np.mgrid[:200, :200]
    analytic = np.hypot(xs - 99.5, ys - 99.5) <= disc_radius
    iou = (frags.mask & analytic).sum() / (frags.mask | analytic).sum()
    assert iou > 0.98, iou


def small_scene() -> tuple[torch.Tensor, torch.Tensor, PerspectiveCamera]:
    vertices, faces = icosphere(1)
    camera = PerspectiveCamera(focal=60.0, cx=15.5, cy=15.5, width=32, height=32)
    cam_vertices = torch.from_numpy(vertices * 4 + [0.3, -0.2, -20.0])
    return cam_vertices, torch.from_numpy(faces), camera


def test_shading_gradients_match_finite_differences():
    cam_vertices, faces, camera = small_scene()
    frags = rasterize(camera.to_screen(cam_vertices).numpy(), faces.numpy(), 32, 32)
    colours = torch.rand(len(cam_vertices), 3, dtype=torch.float64)
    lighting = (AMBIENT.double() + 0.1 * torch.randn(9, 3, dtype=torch.float64)).requires_grad_(True)

    def shaded(positions: torch.Tensor, colours: torch.Tensor, lighting: torch.Tensor) -> torch.Tensor:
        bary = barycentrics(camera.to_screen(positions)[:, :2], faces, frags)
        normals = interpolate(vertex_normals(positions, faces), faces, frags, bary)
        normals = normals / normals.norm(dim=-1, keepdim=True).clamp_min(1e-9)
        return sh_shade(interpolate(colours, faces, frags, bary), normals, lighting)

    inputs = (cam_vertices.clone().requires_grad_(True), colours.requires_grad_(True), lighting)
    assert torch.autograd.gradcheck(shaded, inputs, eps=1e-6, atol=1e-5)


def test_soft_silhouette_gradients_match_finite_differences():
    cam_vertices, faces, camera = small_scene()
    frags = rasterize(camera.to_screen(cam_vertices).numpy(), faces.numpy(), 32, 32)

    def coverage(positions: torch.Tensor) -> torch.Tensor:
        return soft_coverage(camera.to_screen(positions)[:, :2], faces, frags)

    positions = cam_vertices.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(coverage, (positions,), eps=1e-6, atol=1e-5)
    # Moving the sphere right raises coverage on its right edge: the silhouette has a gradient.
    coverage(positions)[:, 24:].sum().backward()
    assert positions.grad[:, 0].sum() > 0


def test_render_then_fit_recovers_pose(model):
    faces = torch.from_numpy(model.faces[: model.n_face_triangles])
    camera = PerspectiveCamera(focal=400.0, cx=63.5, cy=63.5, width=128, height=128)
    vertices = model.mean
    albedo = 0.3 + 0.5 * (vertices - vertices.min(0).values) / (vertices.max(0).values - vertices.min(0).values)
    lighting = AMBIENT * 0.6
    lighting[3] = 0.8  # light from +X, so shading carries pose information
    true_rotation = torch.from_numpy(euler_to_matrix(20.0, -5.0, 3.0)).float()
    true_translation = torch.tensor([0.5, -1.0, -110.0])
    with torch.no_grad():
        target = render(vertices @ true_rotation.T + true_translation, faces, camera, Surface(albedo), lighting)

    yaw = torch.tensor(np.radians(12.0), dtype=torch.float32, requires_grad=True)
    translation = torch.tensor([0.0, 0.0, -112.0], requires_grad=True)
    optimizer = torch.optim.Adam([yaw, translation], lr=0.02)
    rest = torch.from_numpy(euler_to_matrix(0.0, -5.0, 3.0)).float()
    for _ in range(80):
        optimizer.zero_grad()
        c, s = torch.cos(yaw), torch.sin(yaw)
        zero, one = torch.zeros(()), torch.ones(())
        ry = torch.stack([torch.stack([c, zero, s]), torch.stack([zero, one, zero]), torch.stack([-s, zero, c])])
        out = render(vertices @ (ry @ rest).T + translation, faces, camera, Surface(albedo), lighting)
        loss = (out.rgb - target.rgb).pow(2).mean() + (out.alpha - target.alpha).pow(2).mean()
        loss.backward()
        optimizer.step()
    assert abs(np.degrees(float(yaw.detach())) - 20.0) < 1.5
    assert torch.allclose(translation.detach(), true_translation, atol=1.0)


def test_lighting_recovered_from_synthetic_render(model):
    from facerecon.fit.landmark_fit import FaceParameters, LandmarkFitter
    from facerecon.fit.photometric import PhotometricFitter

    camera = PerspectiveCamera.for_image(400, 400)
    fit = FitResult(
        euler_to_matrix(10, 5, 0),
        np.array([0.0, 1.0, -60.0]),
        np.zeros(model.n_identity),
        np.zeros(model.n_expression),
        camera,
    )
    lighting = AMBIENT.clone() * 0.8
    lighting[1], lighting[3], lighting[6] = 0.3, -0.4, 0.1
    with torch.no_grad():
        cam_vertices = torch.from_numpy(fit.to_camera(fit.model_vertices(model))).float()
        albedo = torch.full((model.n_vertices, 3), 0.6)
        out = render(cam_vertices, torch.from_numpy(model.faces), camera, Surface(albedo), lighting)
    photo = np.rint(out.rgb.clamp(0, 1).numpy() * 255).astype(np.uint8)
    fitter = PhotometricFitter(model, LandmarkFitter(model))
    params = FaceParameters.start(fit.rotation, fit.translation, fit.identity, fit.expression)
    crop = fitter.crop(photo, fit)
    recovered, coeffs = fitter.solve_appearance(params, crop)
    # Over the normals a photo shows (the front half of the face), the recovered lighting gives the true
    # shading; some SH terms are nearly collinear there, so compare shading, not each coefficient.
    # Compare where the fit saw skin: visible front-facing vertices inside the crop's skin mask.
    face_vertices = cam_vertices[: model.n_face_vertices]
    normals = vertex_normals(cam_vertices, torch.from_numpy(model.faces))[: model.n_face_vertices]
    screen = crop.camera.to_screen(face_vertices).numpy()
    size = crop.camera.width  # the crop is square
    zbuffer = rasterize(crop.camera.to_screen(cam_vertices).numpy(), model.faces, size, size).depth
    x, y = np.clip(np.rint(screen[:, :2]), 0, size - 1).astype(int).T
    visible = (screen[:, 2] <= zbuffer[y, x] * 1.01) & crop.mask[y, x]
    front = (normals[:, 2] > 0.5) & torch.from_numpy(visible)
    assert front.sum() > 1000
    recovered_colour = (sh_basis(normals[front]) @ recovered) * (fitter.basis @ coeffs)[: model.n_face_vertices][front]
    true_colour = (sh_basis(normals[front]) @ lighting) * 0.6
    error = (recovered_colour - true_colour).abs()
    assert error.median() < 0.01 and error.quantile(0.9) < 0.05  # a few hidden (nostril) vertices differ
    # The strongest directional term, light from -X, comes back as such.
    assert abs(float(recovered[3, 0] / recovered[0, 0]) - float(lighting[3, 0] / lighting[0, 0])) < 0.05


def test_sh_basis_ambient_is_one():
    normals = torch.nn.functional.normalize(torch.randn(100, 3), dim=-1)
    assert torch.allclose(sh_basis(normals) @ AMBIENT, torch.ones(100, 3), atol=1e-6)


def test_real_photo_render_quality(astronaut):
    face = astronaut[0]
    photo = np.asarray(Image.open(face.source).convert("RGB"))
    assert face.render.shape == (*photo.shape[:2], 4)
    mask = skin_mask(face.landmarks68, *photo.shape[:2]) & (face.render[..., 3] > 127)
    assert mask.sum() > 2000
    assert masked_psnr(face.render[..., :3], photo, mask) >= 22.0
    # The de-lit albedo differs from the lit texture, and the lighting is not flat.
    diff = np.abs(face.albedo_texture.astype(float) - face.texture.astype(float)).mean()
    assert diff > 5.0, diff
    assert face.lighting.shape == (9, 3) and np.abs(face.lighting[1:]).max() > 0.05
    assert np.abs(face.render[..., :3][face.render[..., 3] == 0]).max() == 0  # no photo pixels outside


def test_photometric_stage_improves_fit(astronaut):
    stats = astronaut[0].fit_stats
    assert stats["photometric_loss_end"] < stats["photometric_loss_start"]
