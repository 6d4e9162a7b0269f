"""Photo -> list of Reconstructions: detect -> regress -> fit -> scene -> texture, by a Reconstructor that holds
what every face needs (model, networks, MediaPipe's graphs, fitters, bakers), built once."""

from __future__ import annotations

import os
import threading
import time
from functools import cached_property

import numpy as np
import torch

from facerecon.camera import PerspectiveCamera, matrix_to_euler
from facerecon.detect.mediapipe_faces import INNER_LIPS, DetectedFace, FaceDetector
from facerecon.errors import NoFaceError
from facerecon.export.overlay import draw_overlay
from facerecon.fit.gaze import look_gaze, look_rotations, look_targets, looking, read_gaze, turn_eyes
from facerecon.fit.landmark_fit import FIT_STEPS, LandmarkFitter
from facerecon.fit.photometric import PhotometricFitter
from facerecon.fit.profile_pose import ProfilePoseFitter
from facerecon.io.image import LoadedImage, load_image
from facerecon.model.face_model import FaceModel, load_face_model
from facerecon.model.surface import surface_points
from facerecon.nets.pretrained import Regressor, load_gcn
from facerecon.parameters import Appearance, FitResult
from facerecon.reconstruction import Parts, Reconstruction
from facerecon.scene import FaceScene
from facerecon.texture.albedo import delit_albedo
from facerecon.texture.bake import TextureBaker
from facerecon.texture.parts import PartsTexturer, photo_look
from facerecon.texture.refine import refine_albedo

DEFAULT_TEXTURE_SIZE = 1024
# Degrees of yaw (the regressor's) beyond which its answer is kept, its pose refitted to its own reading of
# AFLW's points: fitting MediaPipe's points, which lean frontal on turned heads, made it worse (tuned on
# AFLW train crops the regressor never saw).
PROFILE_YAW = 45.0
FAST_FIT_STEPS = 2  # Gauss-Newton steps of the fast path: NME 4.04 -> 3.07 % on HELEN train for ~20 ms


class Reconstructor:
    """Everything a reconstruction needs, built once: the face model, the regressor and the texture GCN,
    MediaPipe's graphs, the fitters and the texture bakers (one per texture size, on first use).

    The functional API, the CLI, batch workers, video and the web app each hold one (`shared()` gives the
    process's own for the shipped model). Safe to call from several threads: the fitters and bakers keep
    no per-call state, the networks run read-only, MediaPipe's graphs run one call at a time.
    """

    def __init__(self, model: FaceModel | None = None) -> None:
        self.model = model if model is not None else load_face_model()  # a broken asset fails before any work
        self.detector = FaceDetector()
        self.gcn = load_gcn(self.model)
        self.landmark_fitter = LandmarkFitter(self.model)
        self.profile_fitter = ProfilePoseFitter(self.model)
        self.parts_texturer = None if self.model.parts is None else PartsTexturer(self.model.parts)
        self._bakers: dict[int, TextureBaker] = {}
        self._bakers_lock = threading.Lock()

    # Built on first use: a video tracks with neither (0.2 s of its start-up).
    @cached_property
    def regressor(self) -> Regressor:
        return Regressor(self.model)

    @cached_property
    def photometric_fitter(self) -> PhotometricFitter:
        return PhotometricFitter(self.model, self.landmark_fitter)

    def baker(self, size: int) -> TextureBaker:
        """The texture baker of this size (its UV raster is built on first use)."""
        with self._bakers_lock:
            if size not in self._bakers:
                self._bakers[size] = TextureBaker(self.model, size)
            return self._bakers[size]

    def reconstruct(
        self,
        image: str | os.PathLike | np.ndarray,
        *,
        bbox: list[float] | np.ndarray | None = None,
        max_faces: int | None = None,
        texture_size: int = DEFAULT_TEXTURE_SIZE,
        photometric: bool = True,
        fast: bool = False,
    ) -> list[Reconstruction]:
        """Reconstruct the faces in a photo (a path or an RGB uint8 array), largest first.

        bbox=[x0, y0, x1, y1] restricts it to the face in that box; max_faces keeps the largest N;
        fast=True: the regressor's pass, two Gauss-Newton steps on the landmarks and the GCN texture
        refinement (no photometric fit);
        photometric=False skips the photometric refinement (landmarks only: no lighting or albedo).
        A face MediaPipe finds no landmarks on (a profile) in a confident detector box or in `bbox` is
        reconstructed by the regressor alone. Raises a FaceReconError subclass for bad input or when no face
        is found.
        """
        start = time.perf_counter()
        loaded = load_image(image)
        loaded_at = time.perf_counter()
        faces = self.detector.detect(loaded.pixels, bbox=bbox, max_faces=max_faces, keep_boxes=True)
        if not faces:
            where = f" inside bbox {list(np.round(bbox, 1))}" if bbox is not None else ""
            raise NoFaceError(f"no face found{where} in {loaded.source}")
        shared_timings = {"load_s": loaded_at - start, "detect_s": time.perf_counter() - loaded_at}
        results = [self.reconstruct_face(loaded, face, texture_size=texture_size, photometric=photometric,
                                         fast=fast) for face in faces]  # fmt: skip
        for result in results:
            result.fit_stats["timings"] = shared_timings | result.fit_stats["timings"]
        return results

    def reconstruct_face(
        self,
        loaded: LoadedImage,
        face: DetectedFace,
        *,
        texture_size: int = DEFAULT_TEXTURE_SIZE,
        photometric: bool = True,
        fast: bool = False,
    ) -> Reconstruction:
        """One detected face: the regressor's guess, then the landmark fit from it and, unless fast, the
        photometric fit; without landmarks or turned beyond PROFILE_YAW, the guess stays (beyond PROFILE_YAW
        with its pose refitted to the regressor's AFLW points); the GCN refines the albedo; then the
        textures."""
        model = self.model
        h, w = loaded.pixels.shape[:2]
        camera = PerspectiveCamera.for_image(w, h, loaded.focal_35mm)
        timer = StageTimer()
        reading = self.regressor(loaded.pixels, camera, landmarks=face.landmarks, box=face.bbox)
        fit, appearance = reading.fit, reading.appearance
        timer.lap("regressor_s")
        turned = abs(matrix_to_euler(fit.rotation)[0]) > PROFILE_YAW
        if turned:
            fit = self.profile_fitter.fit(fit, reading.aflw21)
            timer.lap("fit_s")
        refitted = ", its pose refitted to its AFLW points" if turned else ""
        if face.landmarks is None:
            fit.stats["method"] = f"regressor alone (MediaPipe found no landmarks){refitted}"
        elif turned:
            fit.stats["method"] = (
                f"regressor (turned beyond {PROFILE_YAW:.0f}°, where MediaPipe's points mislead the fit){refitted}"
            )
        else:
            steps = FAST_FIT_STEPS if fast else FIT_STEPS
            fit = self.landmark_fitter.fit(face.landmarks, camera, start=fit, steps=steps)
            if fast:
                fit.stats["method"] = f"fast: regressor + {FAST_FIT_STEPS} landmark steps"
            timer.lap("fit_s")
            if photometric and not fast:
                with torch.enable_grad():  # the photometric fit needs autograd even inside a caller's no_grad()
                    fit, appearance = self.photometric_fitter.fit(loaded.pixels, face.landmarks, fit, appearance)
                timer.lap("photometric_s")
        if model.parts is not None:  # the eyeLook weights say where the irises look, not what the lids did
            fit = looking(fit, model.expression_names, read_gaze(model.parts, fit, face.landmarks))
        if not photometric:  # no lighting or albedo, whichever way the face was reconstructed
            appearance = None
        scene = FaceScene.build(fit, model)
        timer.lap("scene_s")
        if appearance is not None:
            appearance = Appearance(appearance.lighting, refine_albedo(self.gcn, loaded.pixels, scene, appearance))
            timer.lap("gcn_s")
        return self.build_reconstruction(loaded, face, scene, appearance=appearance, texture_size=texture_size,
                                         timer=timer)  # fmt: skip

    def build_reconstruction(
        self,
        loaded: LoadedImage,
        face: DetectedFace,
        scene: FaceScene,
        *,
        appearance: Appearance | None = None,
        texture_size: int = DEFAULT_TEXTURE_SIZE,
        timer: StageTimer | None = None,
    ) -> Reconstruction:
        """Everything after the fit: textures, render, landmarks, overlay, in one Reconstruction."""
        timer = timer or StageTimer()
        model, fit, vertices = self.model, scene.fit, scene.vertices
        baker = self.baker(texture_size)
        landmarks68 = self.landmark_fitter.landmarks68(fit, vertices)
        open_mouth = None if face.landmarks is None else face.landmarks[INNER_LIPS, :2]
        parts = self.build_parts(fit, loaded.pixels, face.landmarks)
        timer.lap("parts_s")
        baked = baker.bake(loaded.pixels, scene, open_mouth)
        albedo_texture = rendered = None
        if appearance is not None:
            albedo_texture = delit_albedo(baker, baked, scene.normals, appearance.lighting)
            rendered = scene.render_in_photo(appearance, parts)
        timer.lap("texture_s")
        # The wireframe is MediaPipe's topology on our fitted surface: light enough to read over the photo.
        wire = fit.to_screen(surface_points(vertices, model.faces, model.mediapipe.tri, model.mediapipe.bary))
        overlay = draw_overlay(loaded.pixels, wire, model.mediapipe_faces, landmarks68[:, :2])
        timer.lap("overlay_s")
        yaw, pitch, roll = matrix_to_euler(fit.rotation)
        return Reconstruction(
            vertices=vertices.astype(np.float32),
            faces=model.faces,
            uv=model.uv,
            face_uv=model.face_uv,
            texture=baked.texture,
            landmarks68=landmarks68[:, :2],
            landmarks478=face.landmarks,
            pose={"yaw": yaw, "pitch": pitch, "roll": roll, "rotation": fit.rotation, "translation": fit.translation},
            identity=fit.identity,
            expression=dict(zip(model.expression_names, map(float, fit.expression), strict=True)),
            camera=fit.camera.as_dict(),
            bbox=face.bbox,
            fit_stats=fit.stats | {"timings": timer.laps},
            source=loaded.source,
            overlay=overlay,
            expression_basis=model.expression_basis.numpy(),
            lighting=None if appearance is None else appearance.lighting,
            vertex_albedo=None if appearance is None else appearance.albedo,
            albedo_texture=albedo_texture,
            render=rendered,
            parts=parts,
        )

    def build_parts(self, fit: FitResult, pixels: np.ndarray, landmarks: np.ndarray | None) -> Parts | None:
        """The model's eyes and mouth with the fitted identity and expression, the eyes turned as the fit's
        eyeLook weights say (facerecon.fit.gaze), textured with the photo's iris colour and size and its
        teeth's colour."""
        parts_model, texturer = self.model.parts, self.parts_texturer
        if parts_model is None or texturer is None:
            return None
        names = self.model.expression_names
        vertices = fit.model_vertices(parts_model)
        colours = texturer.colours(vertices, photo_look(pixels, landmarks))
        gaze = look_gaze(dict(zip(names, fit.expression, strict=True)))
        basis = parts_model.expression_basis.numpy().copy()  # ICT's eyeLook rows move the lids, not the eyeballs
        for name, offsets in look_targets(parts_model, vertices).items():
            basis[names.index(name)] += offsets
        return Parts(
            names=parts_model.names,
            vertices=turn_eyes(parts_model, vertices, look_rotations(gaze)).astype(np.float32),
            faces=parts_model.faces,
            triangle_part=parts_model.triangle_part,
            uv=parts_model.uv,
            face_uv=parts_model.face_uv,
            texture=texturer.paint(colours),
            vertex_colors=colours,
            expression_basis=basis,
            gaze=gaze,
        )

    @staticmethod
    def shared() -> Reconstructor:
        """The process's Reconstructor of the shipped model, built on first use (what `reconstruct`,
        `detect_faces` and the CLI without --model use)."""
        global _shared
        with _shared_lock:
            if _shared is None:
                _shared = Reconstructor()
            return _shared


_shared: Reconstructor | None = None
_shared_lock = threading.Lock()


def reconstruct(
    image: str | os.PathLike | np.ndarray,
    *,
    bbox: list[float] | np.ndarray | None = None,
    max_faces: int | None = None,
    texture_size: int = DEFAULT_TEXTURE_SIZE,
    photometric: bool = True,
    fast: bool = False,
) -> list[Reconstruction]:
    """Reconstructor.reconstruct with the process's shared Reconstructor (the shipped model); for another
    model, build a Reconstructor(load_face_model(path)) and call its reconstruct."""
    return Reconstructor.shared().reconstruct(image, bbox=bbox, max_faces=max_faces, texture_size=texture_size,
                                              photometric=photometric, fast=fast)  # fmt: skip


def detect_faces(
    image: np.ndarray,
    *,
    bbox: list[float] | np.ndarray | None = None,
    max_faces: int | None = None,
    keep_boxes: bool = False,
) -> list[DetectedFace]:
    """FaceDetector.detect with the shared Reconstructor's detector (see there)."""
    return Reconstructor.shared().detector.detect(image, bbox=bbox, max_faces=max_faces, keep_boxes=keep_boxes)


class StageTimer:
    """Seconds per named stage, each measured from the end of the previous one."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self._last
        self._last = now
