"""Analysis by synthesis: refine the landmark fit so the lit, coloured model reproduces the photo.

Appearance model: SH lighting (9 x RGB, Lambertian) times a per-vertex albedo = the mesh's smoothest
graph-Laplacian modes (coefficients regularised by their eigenvalues, and towards left/right symmetry).
Lighting and albedo start from closed-form least squares on the landmark fit's geometry; then Adam
refines lighting, albedo, identity, expression and pose on a robust photometric loss over the skin mask
plus the landmark term and the priors. Rendering runs on a square crop of the face, and each step
evaluates only what the loss reads: the skin pixels the last rasterisation covered and the mesh rows
around their triangles.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from facerecon.camera import PerspectiveCamera
from facerecon.fit.landmark_fit import FaceParameters, LandmarkFitter, LandmarkTerm
from facerecon.fit.skin_mask import skin_mask
from facerecon.model.face_model import FaceModel, LinearShapeModel
from facerecon.model.surface import barycentric_sum, compacted, corner_values, surface_points, vertex_normals
from facerecon.parameters import Appearance, FitResult
from facerecon.render.rasterize import pixel_barycentrics, rasterize
from facerecon.render.shade import AMBIENT, sh_basis

CROP_RESOLUTION = 112  # pixels of the square face crop the fit renders
CROP_MARGIN = 1.15
ITERATIONS = 24
RASTER_EVERY = 6  # iterations between re-rasterisations (barycentrics stay differentiable between)
LANDMARK_WEIGHT = 20.0
ALBEDO_SMOOTHNESS = 2e-4  # per unit of Laplacian eigenvalue
ALBEDO_SYMMETRY = 0.5
RIDGE = 1e-3
LIGHT_RIDGE = 1e-4
ROBUST_EPS = 1e-3
LEARNING_RATES = {"pose": 2e-3, "translation": 2e-2, "identity": 2e-2, "expression": 5e-3, "appearance": 5e-3}


@dataclass
class FaceCrop:
    camera: PerspectiveCamera  # the photo's camera, cropped and scaled
    target: torch.Tensor  # (R, R, 3) photo colours in [0, 1]
    mask: np.ndarray  # (R, R) skin mask


@dataclass
class SkinPixels:
    """The skin pixels one rasterisation covers and the mesh rows they read: what each step evaluates
    until the next rasterisation."""

    shape: LinearShapeModel  # the mesh's rows that the pixels' triangles touch or neighbour
    albedo_basis: torch.Tensor  # (R, K) those rows of the albedo basis
    corners: torch.Tensor  # (P, 3) each pixel's triangle, as indices into the rows
    around: torch.Tensor  # (T, 3) every triangle that touches a corner (the corners' normals), likewise
    xy: torch.Tensor  # (P, 2) pixel centres
    target: torch.Tensor  # (P, 3) the photo's colours

    @classmethod
    def covered(cls, fitter: PhotometricFitter, params: FaceParameters, crop: FaceCrop) -> SkinPixels:
        faces, camera = fitter.faces.numpy(), crop.camera
        with torch.no_grad():
            screen = camera.to_screen(params.camera_points(fitter.model)).numpy()
        fragments = rasterize(screen, faces, camera.height, camera.width, cull_back=True)
        use = np.flatnonzero(fragments.mask & crop.mask)
        corners = faces[fragments.tri.reshape(-1)[use]]
        touches = np.zeros(fitter.model.n_vertices, dtype=bool)
        touches[corners] = True
        around = faces[touches[faces].any(axis=1)]
        rows, local = compacted(np.concatenate([corners.ravel(), around.ravel()]), fitter.model.n_vertices)
        index = torch.from_numpy(rows)
        return cls(
            fitter.model.rows(index),
            fitter.basis[index],
            torch.from_numpy(local[: corners.size].reshape(-1, 3)),
            torch.from_numpy(local[corners.size :].reshape(-1, 3)),
            torch.from_numpy(np.column_stack([use % camera.width, use // camera.width]).astype(np.float32)),
            crop.target.reshape(-1, 3)[torch.from_numpy(use)],
        )

    def surface(self, params: FaceParameters, camera: PerspectiveCamera) -> tuple[torch.Tensor, torch.Tensor]:
        """Each pixel's barycentrics (P, 3) and unit normal (P, 3) at the parameters, differentiable."""
        points = params.camera_points(self.shape)
        bary = pixel_barycentrics(corner_values(camera.project(points), self.corners), self.xy)
        return bary, _unit(self.interpolate(vertex_normals(points, self.around), bary))

    def interpolate(self, values: torch.Tensor, bary: torch.Tensor) -> torch.Tensor:
        """Per-row values (R, C) at the pixels (P, C)."""
        return barycentric_sum(bary.to(values.dtype), corner_values(values, self.corners))


class PhotometricFitter:
    def __init__(self, model: FaceModel, landmark_fitter: LandmarkFitter):
        self.model, self.landmark_fitter = model, landmark_fitter
        self.faces = torch.from_numpy(model.faces[: model.n_face_triangles])  # the face region only
        self.basis = model.albedo_basis.T.contiguous()  # (V, K)
        basis = self.basis.double()
        # Least squares onto the basis, and the albedo's left/right asymmetry as a quadratic form in its
        # coefficients (mean over the albedo's V x 3 values): both cost K x K, not V x K, per use.
        self.projection = torch.linalg.solve(basis.T @ basis, basis.T).float()  # (K, V)
        asymmetry = basis - basis[torch.from_numpy(model.mirror)]
        self.asymmetry = (asymmetry.T @ asymmetry / (3 * len(basis))).float()  # (K, K)

    def fit(
        self, image: np.ndarray, landmarks: np.ndarray, start: FitResult, appearance: Appearance | None = None
    ) -> tuple[FitResult, Appearance]:
        """image: RGB uint8 photo; landmarks: MediaPipe's 478 points; start: the landmark fit; appearance:
        the regressor's lighting and albedo to start from (else least squares on the start's shape)."""
        began = time.perf_counter()
        crop = self.crop(image, start)
        params = FaceParameters.start(start.rotation, start.translation, start.identity, start.expression)
        term = LandmarkTerm(self.landmark_fitter, landmarks, start.camera)
        term.update(params)
        if appearance is None:
            lighting, albedo_coeffs = self.solve_appearance(params, crop)
        else:
            lighting = torch.tensor(appearance.lighting, dtype=torch.float32)
            albedo_coeffs = self.projection @ torch.tensor(appearance.albedo, dtype=torch.float32)
        lighting.requires_grad_(True)
        albedo_coeffs.requires_grad_(True)
        optimizer = torch.optim.Adam(
            [
                {"params": [params.delta_rotation], "lr": LEARNING_RATES["pose"]},
                {"params": [params.translation], "lr": LEARNING_RATES["translation"]},
                {"params": [params.identity], "lr": LEARNING_RATES["identity"]},
                {"params": [params.expression], "lr": LEARNING_RATES["expression"]},
                {"params": [lighting, albedo_coeffs], "lr": LEARNING_RATES["appearance"]},
            ]
        )
        losses, diverged = [], False
        for step in range(ITERATIONS):
            optimizer.zero_grad()
            if step % RASTER_EVERY == 0:
                pixels = SkinPixels.covered(self, params, crop)
            bary, normals = pixels.surface(params, crop.camera)
            rgb = pixels.interpolate(pixels.albedo_basis @ albedo_coeffs, bary) * (sh_basis(normals) @ lighting)
            photo = self.photometric_loss(rgb, pixels.target)
            loss = photo + LANDMARK_WEIGHT * term(params) + params.prior() + self.albedo_prior(albedo_coeffs)
            if not torch.isfinite(loss):
                diverged = True
                break
            saved = params.snapshot()
            loss.backward()
            optimizer.step()
            losses.append(float(photo.detach()))
            if not params.is_finite():
                params.restore(saved)
                diverged = True
                break
        params.clamp_to_model_range()
        lighting, albedo_coeffs = self.solve_appearance(params, crop)  # least squares on the final shape
        stats = (
            start.stats
            | term.statistics(params)
            | {
                "photometric_loss_start": losses[0] if losses else float("nan"),
                "photometric_loss_end": losses[-1] if losses else float("nan"),
                "photometric_iterations": len(losses),
                "photometric_seconds": time.perf_counter() - began,
            }
            | ({"fallback": "photometric stage diverged; kept its last good state"} if diverged else {})
        )
        with torch.no_grad():
            albedo = (self.basis @ albedo_coeffs).clamp(0, 1).numpy().astype(np.float64)
        return params.result(start.camera, stats), Appearance(lighting.detach().numpy().astype(np.float64), albedo)

    def crop(self, image: np.ndarray, fit: FitResult) -> FaceCrop:
        """A square crop around the fitted face, its camera, and its skin mask."""
        vertices = fit.model_vertices(self.model)
        lm68 = fit.to_screen(
            surface_points(vertices, self.model.faces, self.model.landmarks68.tri, self.model.landmarks68.bary)
        )[:, :2]
        low, high = lm68.min(0), lm68.max(0)
        centre, side = (low + high) / 2, float((high - low).max()) * CROP_MARGIN
        scale = CROP_RESOLUTION / max(side, 1.0)
        x0, y0 = centre - side / 2
        cam = fit.camera
        crop_camera = PerspectiveCamera(
            cam.focal * scale,
            (cam.cx - x0) * scale,
            (cam.cy - y0) * scale,
            CROP_RESOLUTION,
            CROP_RESOLUTION,
            cam.focal_source,
        )
        warp = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]])
        pixels = cv2.warpAffine(image, warp, (CROP_RESOLUTION, CROP_RESOLUTION), flags=cv2.INTER_AREA)
        target = torch.from_numpy(pixels.astype(np.float32) / 255.0)
        mask = skin_mask((lm68 - [x0, y0]) * scale, CROP_RESOLUTION, CROP_RESOLUTION)
        return FaceCrop(crop_camera, target, mask)

    def solve_appearance(self, params: FaceParameters, crop: FaceCrop) -> tuple[torch.Tensor, torch.Tensor]:
        """Linear least squares for lighting (9, 3), then albedo coefficients (K, 3), with the shape fixed.

        Lighting is solved against a uniform albedo (skin's is nearly so) before the albedo is solved
        against that lighting: a low-frequency albedo could otherwise absorb the shading and leave the
        lighting undetermined.
        """
        with torch.no_grad():
            pixels = SkinPixels.covered(self, params, crop)
            bary, normals = pixels.surface(params, crop.camera)
            y = sh_basis(normals).double()  # (P, 9)
            b = pixels.interpolate(pixels.albedo_basis, bary).double()  # (P, K)
            t = pixels.target.double()  # (P, 3)
            k = b.shape[1]
            coeffs = torch.zeros(k, 3, dtype=torch.float64)
            coeffs[0] = t.mean(0) / self.basis[:, 0].mean()
            reg = torch.diag(RIDGE + ALBEDO_SMOOTHNESS * self.model.albedo_eigenvalues.double()) * len(t)
            lighting = AMBIENT.double().clone()
            albedo = b @ coeffs
            # Over the visible half of a face, the constant, z and z² terms are nearly collinear: shrink
            # the directional terms only, so the mean brightness stays in the ambient term.
            light_reg = torch.diag(torch.tensor([0.0] + [LIGHT_RIDGE] * 8, dtype=torch.float64)) * len(t)
            for c in range(3):
                design = albedo[:, c : c + 1] * y
                lighting[:, c] = _ridge(design, t[:, c], light_reg)
            shading = y @ lighting
            for c in range(3):
                coeffs[:, c] = _ridge(b * shading[:, c : c + 1], t[:, c], reg)
            return lighting.float(), coeffs.float()

    def photometric_loss(self, rendered: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean over the pixels of their colour distance (robust: an L2,1 norm, as Deep3DFaceRecon)."""
        diff = rendered - target
        return (diff.pow(2).sum(-1) + ROBUST_EPS**2).sqrt().mean() if len(diff) else rendered.sum() * 0

    def albedo_prior(self, coeffs: torch.Tensor) -> torch.Tensor:
        smooth = (self.model.albedo_eigenvalues[:, None] * coeffs.pow(2)).sum()
        symmetry = (coeffs * (self.asymmetry @ coeffs)).sum()
        return ALBEDO_SMOOTHNESS * smooth + ALBEDO_SYMMETRY * symmetry


def _ridge(design: torch.Tensor, target: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    return torch.linalg.solve(design.T @ design + reg, design.T @ target)


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-9)
