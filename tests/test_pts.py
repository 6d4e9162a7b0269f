import numpy as np
import pytest
from conftest import shared_path

from facerecon.io.pts import read_pts, write_pts


def test_read_converts_one_based_to_zero_based(tmp_path):
    path = tmp_path / "a.pts"
    path.write_text("version: 1\nn_points: 2\n{\n1.0 1.0\n10.5 20.25\n}\n")
    assert read_pts(path) == pytest.approx(np.array([[0.0, 0.0], [9.5, 19.25]]))


def test_round_trip(tmp_path):
    points = np.random.default_rng(1).uniform(0, 500, (68, 2))
    write_pts(tmp_path / "b.pts", points)
    assert np.allclose(read_pts(tmp_path / "b.pts"), points, atol=1e-3)


def test_malformed(tmp_path):
    path = tmp_path / "c.pts"
    path.write_text("version: 1\nn_points: 3\n{\n1 2\n}\n")
    with pytest.raises(ValueError):
        read_pts(path)


def test_shared_annotations_have_68_points_inside_their_photo():
    from PIL import Image

    folder = shared_path("faces/helen_test")
    for pts in sorted(folder.glob("*.pts"))[:20]:
        points = read_pts(pts)
        w, h = Image.open(pts.with_suffix(".jpg")).size
        assert points.shape == (68, 2)
        assert (points >= -1).all() and (points[:, 0] < w + 1).all() and (points[:, 1] < h + 1).all()
