import math

import numpy as np
import pytest
import torch

from facerecon.camera import CropWindow, PerspectiveCamera, axis_angle_to_matrix, euler_to_matrix, matrix_to_euler


def test_known_rotation_gives_known_yaw():
    # 30 degrees about +Y takes the face direction +Z towards +X (image right).
    rot = axis_angle_to_matrix(torch.tensor([0.0, math.radians(30), 0.0], dtype=torch.float64)).numpy()
    yaw, pitch, roll = matrix_to_euler(rot)
    assert yaw == pytest.approx(30.0) and pitch == pytest.approx(0.0, abs=1e-9) and roll == pytest.approx(0.0)
    assert (rot @ [0, 0, 1])[0] > 0


@pytest.mark.parametrize("angles", [(10, -20, 5), (-70, 15, -30), (85, 0, 0), (0, 40, 170)])
def test_euler_round_trip(angles):
    assert matrix_to_euler(euler_to_matrix(*angles)) == pytest.approx(angles, abs=1e-6)


def test_axis_angle_is_orthonormal_and_exact_at_zero():
    rots = axis_angle_to_matrix(torch.randn(50, 3, dtype=torch.float64))
    eye = torch.eye(3, dtype=torch.float64)
    assert torch.allclose(rots @ rots.transpose(1, 2), eye.expand(50, 3, 3), atol=1e-10)
    assert torch.allclose(axis_angle_to_matrix(torch.zeros(3, dtype=torch.float64)), eye)


def test_axis_angle_gradient():
    x = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(axis_angle_to_matrix, (x,))


def test_projection_convention():
    cam = PerspectiveCamera.for_image(640, 480)
    # A point straight ahead lands on the image centre; up in the world is up in the image (smaller y).
    centre, above = cam.project(torch.tensor([[0.0, 0.0, -50.0], [0.0, 5.0, -50.0]])).numpy()
    assert centre == pytest.approx([319.5, 239.5])
    assert above[1] < centre[1] and above[0] == pytest.approx(319.5)
    assert cam.focal_source == "default"
    assert PerspectiveCamera.for_image(640, 480, focal_35mm=28).focal == pytest.approx(28 * 800 / 43.27)


def test_intrinsics_match_projection():
    cam = PerspectiveCamera.for_image(300, 200)
    point = np.array([3.0, -2.0, -40.0])
    k = cam.intrinsics()
    cv_point = point * [1, -1, -1]  # OpenCV camera: +Y down, looking down +Z
    uvw = k @ cv_point
    assert uvw[:2] / uvw[2] == pytest.approx(cam.project(torch.from_numpy(point)).numpy())


def test_crop_window_area_filters_when_it_shrinks():
    # One-pixel stripes shrunk 4x: an area filter gives their mean; point sampling would give 0 or 255.
    stripes = np.zeros((400, 400, 3), dtype=np.uint8)
    stripes[:, ::2] = 255
    crop = CropWindow(0.0, 0.0, 400.0, 100).warp(stripes)
    assert np.abs(crop[5:-5, 5:-5].astype(float) - 127.5).max() < 2


def test_crop_window_camera_projects_like_the_photo():
    photo = PerspectiveCamera.for_image(4032, 3024)
    window = CropWindow(1500.5, 900.25, 1200.0, 512)
    points = np.array([[0.0, 0.0, -60.0], [3.0, -4.0, -55.0], [-5.0, 6.0, -70.0]])
    in_photo = photo.to_screen(points)
    in_window = window.camera(photo).to_screen(points)
    assert np.allclose(window.to_crop(in_photo[:, :2]), in_window[:, :2])
    assert np.allclose(window.from_crop(in_window), in_photo[:, :2])
    assert np.allclose(in_window[:, 2], in_photo[:, 2])
