import numpy as np
import torch

from facerecon.render.rasterize import interpolate, rasterize


def test_square_covers_exactly_its_pixels():
    # Two triangles spanning x, y in [2, 7]: pixel centres 2..7 inclusive are covered, nothing else.
    screen = np.array([[2, 2, 1], [7, 2, 1], [7, 7, 1], [2, 7, 1]], dtype=float)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    frags = rasterize(screen, faces, 10, 10)
    expected = np.zeros((10, 10), dtype=bool)
    expected[2:8, 2:8] = True
    assert (frags.mask == expected).all()
    assert np.allclose(frags.bary[frags.mask].sum(1), 1, atol=1e-6)


def test_nearest_surface_wins_and_behind_camera_is_dropped():
    near = np.array([[0, 0, 2], [9, 0, 2], [0, 9, 2]], dtype=float)
    far = near.copy()
    far[:, 2] = 5
    behind = near.copy()
    behind[:, 2] = -1
    screen = np.concatenate([far, near, behind])
    faces = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    frags = rasterize(screen, faces, 10, 10)
    assert set(np.unique(frags.tri[frags.mask])) == {1}
    assert np.allclose(frags.depth[frags.mask], 2)


def test_disc_area_matches_analytic():
    n, r = 64, 40.0
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring = np.column_stack([50 + r * np.cos(angles), 50 + r * np.sin(angles), np.ones(n)])
    screen = np.vstack([[50, 50, 1], ring])
    faces = np.array([[0, 1 + i, 1 + (i + 1) % n] for i in range(n)])
    area = rasterize(screen, faces, 100, 100).mask.sum()
    polygon_area = 0.5 * n * r * r * np.sin(2 * np.pi / n)
    assert abs(area - polygon_area) / polygon_area < 0.02


def test_interpolate_is_differentiable():
    screen = np.array([[0, 0, 1], [9, 0, 1], [0, 9, 1]], dtype=float)
    faces = np.array([[0, 1, 2]])
    frags = rasterize(screen, faces, 10, 10)
    colours = torch.rand(3, 3, dtype=torch.float64, requires_grad=True)
    image = interpolate(colours, torch.from_numpy(faces), frags)
    image.sum().backward()
    # Each vertex's gradient is the sum of its barycentric weights over covered pixels.
    expected = frags.bary[frags.mask].astype(np.float64).sum(0)
    assert np.allclose(colours.grad[:, 0].numpy(), expected, atol=1e-4)


def test_mesh_outside_the_image_covers_nothing():
    screen = np.array([[600, 600, 1], [620, 600, 1], [600, 620, 1]], dtype=float)
    frags = rasterize(screen, np.array([[0, 1, 2]]), 10, 10)
    assert not frags.mask.any() and np.isinf(frags.depth).all()
