"""The shipped networks: loading them, running the regressor (onnxruntime or torch), exporting to ONNX."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from facerecon.camera import CropWindow, PerspectiveCamera
from facerecon.errors import ModelAssetError
from facerecon.metrics import bbox_of
from facerecon.model.face_model import FaceModel
from facerecon.nets.codec import decode, face_anchor
from facerecon.nets.gcn import TextureGCN
from facerecon.nets.regressor import CROP_MARGIN, CROP_SIZE, N_AFLW21, N_LANDMARKS, FaceRegressor
from facerecon.parameters import Appearance, FitResult, SeenPoints

DATA = Path(__file__).parent / "data"
REGRESSOR_WEIGHTS = DATA / "regressor.pt"
REGRESSOR_ONNX = DATA / "regressor.onnx"
GCN_WEIGHTS = DATA / "texture_gcn.pt"
ONNX_OPSET = 17


@dataclass(frozen=True)
class RegressorInput:
    window: CropWindow
    image: np.ndarray  # (1, 3, S, S) float32 in [0, 1]
    landmarks: np.ndarray  # (1, 468, 2) float32, crop widths from the centre
    has_landmarks: np.ndarray  # (1, 1) float32

    def arrays(self) -> dict[str, np.ndarray]:
        return {"image": self.image, "landmarks": self.landmarks, "has_landmarks": self.has_landmarks}


def regressor_input(pixels: np.ndarray, landmarks: np.ndarray | None, box: np.ndarray | None) -> RegressorInput:
    """The aligned crop around MediaPipe's points (or around `box` when there are none)."""
    if landmarks is not None:
        box = bbox_of(landmarks[:N_LANDMARKS, :2])
    window = CropWindow.around(np.asarray(box, dtype=np.float64), CROP_SIZE, CROP_MARGIN)
    image = window.warp(pixels).transpose(2, 0, 1)[None].astype(np.float32) / 255
    points = np.zeros((1, N_LANDMARKS, 2), dtype=np.float32)
    if landmarks is not None:
        points[0] = window.to_crop(landmarks[:N_LANDMARKS]) / CROP_SIZE - 0.5
    flag = np.array([[float(landmarks is not None)]], dtype=np.float32)
    return RegressorInput(window, image, points, flag)


@dataclass(frozen=True)
class RegressorReading:
    """One pass of the regressor: the face's parameters, and AFLW's 21 points as its second head reads them."""

    fit: FitResult
    appearance: Appearance
    aflw21: SeenPoints  # photo pixels


class Regressor:
    """The shipped regressor (onnxruntime) for one face model: one pass per face. onnxruntime's sessions may
    run from several threads at once."""

    def __init__(self, model: FaceModel) -> None:
        import onnxruntime

        self.model, self.anchor = model, face_anchor(model)
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        # Spinning threads would keep the cores busy after each run, slowing the torch work that follows.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = onnxruntime.InferenceSession(
                str(REGRESSOR_ONNX), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors for missing or corrupt files
            raise ModelAssetError(f"regressor ONNX unreadable: {REGRESSOR_ONNX} ({exc.__class__.__name__})") from None

    def __call__(
        self,
        pixels: np.ndarray,
        camera: PerspectiveCamera,
        *,
        landmarks: np.ndarray | None = None,
        box: np.ndarray | None = None,
    ) -> RegressorReading:
        """The face with these landmarks or in this box."""
        inputs = regressor_input(pixels, landmarks, box)
        parameters, aflw21 = (output[0] for output in self.session.run(None, inputs.arrays()))
        fit, appearance = decode(parameters, inputs.window.camera(camera), camera, self.anchor, self.model)
        points = inputs.window.from_crop((aflw21[: 2 * N_AFLW21].reshape(N_AFLW21, 2) + 0.5) * CROP_SIZE)
        return RegressorReading(fit, appearance, SeenPoints(points.astype(np.float64), aflw21[2 * N_AFLW21 :] > 0))


def load_regressor() -> FaceRegressor:
    """The torch regressor with the shipped weights, in eval mode (for training and export)."""
    net = FaceRegressor()
    _load_weights(net, REGRESSOR_WEIGHTS, "regressor")
    return net.eval()


def load_gcn(model: FaceModel) -> TextureGCN:
    """The texture GCN over this model's face region, with the shipped weights, in eval mode."""
    net = TextureGCN(*face_region(model))
    _load_weights(net, GCN_WEIGHTS, "texture GCN")
    return net.eval()


def face_region(model: FaceModel) -> tuple[np.ndarray, int]:
    """The triangles (F, 3) among the face region's vertices, and how many vertices it has."""
    n = model.n_face_vertices
    return model.faces[(model.faces < n).all(axis=1)], n


def _load_weights(net: torch.nn.Module, path: Path, what: str) -> None:
    try:
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except (OSError, RuntimeError) as exc:
        raise ModelAssetError(f"{what} weights unreadable: {path} ({exc.__class__.__name__})") from None


def export_onnx(net: FaceRegressor, path: Path) -> None:
    """Export the regressor (batch size free) with TorchScript-based exporter, atomically."""
    inputs = regressor_input(np.zeros((CROP_SIZE, CROP_SIZE, 3), np.uint8), None, np.array([0, 0, 100, 100]))
    args = tuple(torch.from_numpy(a) for a in inputs.arrays().values())
    names, outputs = list(inputs.arrays()), ["parameters", "aflw21"]
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        torch.onnx.export(
            net.eval(), args, tmp, dynamo=False, opset_version=ONNX_OPSET, input_names=names,
            output_names=outputs, dynamic_axes={n: {0: "batch"} for n in [*names, *outputs]},
        )  # fmt: skip
        os.chmod(tmp, 0o644)  # mkstemp creates it private
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
