"""Face detection and 478 landmarks with MediaPipe's legacy FaceMesh (models ship inside the wheel).

FaceMesh's own detector is a short-range one that misses small faces, so we first find boxes with the
full-range face detector, then run FaceMesh on a square crop around each box (upscaled when small).
FaceMesh gives up on many faces beyond ~60 degrees of yaw; on request such faces come back as a box
without landmarks, for the regressor alone.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from facerecon.detect.quiet import quiet_native_stderr

CROP_SCALE = 2.0  # crop side / face box side
CROP_MIN_SIDE = 256  # pixels: smaller crops are upscaled before FaceMesh
DUPLICATE_IOU = 0.5
BOX_ONLY_SCORE = 0.8  # detector confidence needed to keep a face FaceMesh could not read
MIN_TILE = 96  # pixels: the smallest tile the detector is run on
# The inner lip line of the 478 points, as one closed polygon (upper lip left to right, lower right to left).
INNER_LIPS = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95]


@dataclass(frozen=True)
class DetectedFace:
    """478 MediaPipe landmarks in image pixels (x right, y down, 0-based; z in the same units, relative
    depth, smaller = nearer) and their bounding box [x0, y0, x1, y1]; landmarks None: a face box only."""

    landmarks: np.ndarray | None  # (478, 3) float64
    bbox: np.ndarray  # (4,)

    @property
    def area(self) -> float:
        return float((self.bbox[2] - self.bbox[0]) * (self.bbox[3] - self.bbox[1]))


class FaceDetector:
    """MediaPipe's full-range face detector and FaceMesh, each graph built on first use and then kept. The
    graphs are not safe to run from two threads at once (the web app serves concurrent users): one at a
    time per detector."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._detector = None
        self._meshes: dict[int, object] = {}

    def detect(
        self,
        image: np.ndarray,
        *,
        bbox: list[float] | np.ndarray | None = None,
        max_faces: int | None = None,
        keep_boxes: bool = False,
    ) -> list[DetectedFace]:
        """Faces in an RGB uint8 image, largest first. With `bbox` [x0, y0, x1, y1], only the face in that
        box. keep_boxes: also return the faces FaceMesh cannot read (profiles) as boxes without landmarks:
        the caller's box, or a detector box of confidence >= BOX_ONLY_SCORE that holds no face already read.

        When no face is read in a badly exposed photo, it tries once more with the contrast stretched.
        """
        faces = self._detect(image, bbox, max_faces, keep_boxes)
        read = any(f.landmarks is not None for f in faces)
        stretched = None if read else _stretch_contrast(image)
        if stretched is not None:
            retry = self._detect(stretched, bbox, max_faces, keep_boxes)
            faces = retry if retry and (any(f.landmarks is not None for f in retry) or not faces) else faces
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces[:max_faces] if max_faces else faces

    def facemesh(self, image: np.ndarray, max_faces: int) -> list[DetectedFace]:
        """FaceMesh alone on the whole image (no detector box first)."""
        h, w = image.shape[:2]
        with self._lock, quiet_native_stderr():
            if max_faces not in self._meshes:
                import mediapipe as mp

                self._meshes[max_faces] = mp.solutions.face_mesh.FaceMesh(
                    static_image_mode=True, max_num_faces=max_faces, refine_landmarks=True,
                    min_detection_confidence=0.5,
                )  # fmt: skip
            result = self._meshes[max_faces].process(np.ascontiguousarray(image))
        faces = []
        for lms in result.multi_face_landmarks or []:
            pts = np.array([(p.x * w, p.y * h, p.z * w) for p in lms.landmark], dtype=np.float64)
            faces.append(_face_from_points(pts))
        return faces

    def _detector_boxes(self, image: np.ndarray) -> list[tuple[np.ndarray, float]]:
        h, w = image.shape[:2]
        with self._lock, quiet_native_stderr():
            if self._detector is None:
                import mediapipe as mp

                self._detector = mp.solutions.face_detection.FaceDetection(
                    model_selection=1, min_detection_confidence=0.5
                )
            result = self._detector.process(image)
        boxes = []
        for det in result.detections or []:
            rel = det.location_data.relative_bounding_box
            x0, y0 = rel.xmin * w, rel.ymin * h
            boxes.append((np.array([x0, y0, x0 + rel.width * w, y0 + rel.height * h]), float(det.score[0])))
        return boxes

    def _detect(
        self, image: np.ndarray, bbox: list[float] | np.ndarray | None, max_faces: int | None, keep_boxes: bool
    ) -> list[DetectedFace]:
        faces: list[DetectedFace] = []
        unread: list[DetectedFace] = []
        for box, score in self._boxes(image, bbox):
            face = self._landmarks_in_box(image, box)
            if face is None:
                if keep_boxes and score >= BOX_ONLY_SCORE:
                    unread.append(DetectedFace(None, box))
            elif not any(_iou(face.bbox, f.bbox) > DUPLICATE_IOU for f in faces):
                faces.append(face)
        if not faces and bbox is None:
            faces = self.facemesh(image, max_faces=max_faces or 10)
        return faces + [u for u in unread if not any(_contains(f.bbox, u.bbox) for f in faces)]

    def _boxes(self, image: np.ndarray, bbox: list[float] | np.ndarray | None) -> list[tuple[np.ndarray, float]]:
        """(box, confidence): the caller's box (confidence 1), else the detector's."""
        if bbox is not None:
            return [(np.asarray(bbox, dtype=np.float64), 1.0)]
        return self._detector_boxes(image) or self._tiled_detector_boxes(image)

    def _tiled_detector_boxes(self, image: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Boxes from overlapping square tiles, for faces the detector misses in the whole image: small faces
        (a person at a lectern, a group photo), and faces in a long panorama or strip, which the detector would
        squeeze into its small square input. Tiles of the shorter side (strips only), then of 1/2 and 1/4 of
        it, each overlapping its neighbours by half: faces down to ~1/20 of the shorter side (24 px in a
        480-px frame) for at most ~90 detector runs at 640 x 480."""
        h, w = image.shape[:2]
        short = min(h, w)
        boxes: list[tuple[np.ndarray, float]] = []
        for side in (short, short // 2, short // 4):
            if side < MIN_TILE or (side == short and max(h, w) < 2 * short):
                continue
            step = side // 2
            for y in sorted({*range(0, h - side, step), h - side}):
                for x in sorted({*range(0, w - side, step), w - side}):
                    offset = np.array([x, y, x, y], dtype=np.float64)
                    for box, score in self._detector_boxes(np.ascontiguousarray(image[y : y + side, x : x + side])):
                        if not any(_iou(box + offset, b) > DUPLICATE_IOU for b, _ in boxes):
                            boxes.append((box + offset, score))
        return boxes

    def _landmarks_in_box(self, image: np.ndarray, box: np.ndarray) -> DetectedFace | None:
        """FaceMesh on a square crop centred on the box, mapped back to image pixels."""
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        side = max(box[2] - box[0], box[3] - box[1], 1.0) * CROP_SCALE
        scale = max(1.0, CROP_MIN_SIDE / side)
        out = round(side * scale)
        # Affine crop: image pixel (x, y) -> crop pixel ((x - x0) * scale, (y - y0) * scale); outside is black.
        x0, y0 = cx - side / 2, cy - side / 2
        warp = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]])
        crop = cv2.warpAffine(image, warp, (out, out), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        found = self.facemesh(crop, max_faces=1)
        if not found:
            return None
        points = found[0].landmarks / scale
        points[:, 0] += x0
        points[:, 1] += y0
        return _face_from_points(points)


def _stretch_contrast(image: np.ndarray) -> np.ndarray | None:
    """The 1st-99th brightness percentiles mapped to 0-255; None where that changes little or the image is
    flat."""
    low, high = np.percentile(image, [1, 99])
    if high - low < 8 or (low <= 10 and high >= 245):
        return None
    scaled = (image.astype(np.float32) - low) * (255.0 / (high - low))
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _face_from_points(points: np.ndarray) -> DetectedFace:
    bbox = np.concatenate([points[:, :2].min(0), points[:, :2].max(0)])
    return DetectedFace(points, bbox)


def _contains(outer: np.ndarray, inner: np.ndarray) -> bool:
    """Whether the centre of box `inner` lies inside box `outer`."""
    cx, cy = (inner[0] + inner[2]) / 2, (inner[1] + inner[3]) / 2
    return bool(outer[0] <= cx <= outer[2] and outer[1] <= cy <= outer[3])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
