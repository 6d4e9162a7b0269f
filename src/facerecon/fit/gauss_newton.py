"""Damped Gauss-Newton on the landmark cost: pose and expression of one or more views of a face, and the
identity they share unless it is given.

The cost is LandmarkTerm's (visibility-weighted squared reprojection error of MediaPipe's points in units
of the face's size, the oval sliding on the silhouette), averaged over the views, plus the priors: a
standard normal on identity, an L1 sparsity prior and a [0, 1] box on expressions, and a pull of a
turned head's rotation towards the regressor's. The model's points are linear in identity and
expression and the pose moves little per step, so each step solves the linearised problem exactly (a
bounded quadratic) and a few steps converge. A step is kept only if the cost falls; else the damping
grows. (L-BFGS on the same cost stalled at the expression prior's kink at zero: fed a face's own exact
projected points, it left the identity where it started.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.linalg import solve_triangular
from scipy.optimize import lsq_linear
from scipy.spatial.transform import Rotation

from facerecon.camera import PerspectiveCamera
from facerecon.model.face_model import LinearShapeModel

IDENTITY_PRIOR = 2e-5  # per squared standard deviation
EXPRESSION_L1 = 2e-4
IDENTITY_LIMIT = 4.0  # standard deviations: the model's valid range
DAMPING = 1e-3  # Levenberg-Marquardt, relative to the mean diagonal of the normal matrix
REPICK_EVERY = 2  # steps between re-picks of the visibility weights and the oval's silhouette points
ACTIVE_SET_ROUNDS = 30  # box_qp's guesses before BVLS takes over (a few suffice)
RETRIES = 4  # damping increases (x10 each) before a step that does not lower the cost ends the solve


@dataclass
class View:
    """One photo of the face: its observed points, how to re-pick its correspondences, and its pose and
    expression (updated in place by the solver)."""

    observed: np.ndarray  # (P, 2) pixels of MediaPipe's surface points
    scale: float  # the face's size in pixels: residuals are in its units
    camera: PerspectiveCamera
    repick: Callable[[View, np.ndarray], tuple[np.ndarray, np.ndarray]]  # (view, identity) -> rows, weights
    rotation: np.ndarray
    translation: np.ndarray
    expression: np.ndarray
    rotation_prior: float = 0.0  # per squared radian of turn away from prior_rotation
    prior_rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # model point per observed one
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (P,) visibility
    mean: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (P, 3) the rows' points at rest
    bases: np.ndarray = field(default_factory=lambda: np.zeros((0, 3, 0)))  # (P, 3, E [+ K]) the rows' bases


Pose = tuple[np.ndarray, np.ndarray, np.ndarray]  # rotation, translation, expression


class GaussNewton:
    """Holds a shape model's points as float64 arrays; `solve` fits views to their observed points."""

    def __init__(self, shape: LinearShapeModel):
        self.mean = shape.mean.numpy().astype(np.float64)  # (N, 3)
        bases = torch.cat([shape.expression_basis, shape.identity_basis])  # (E + K, N, 3)
        self.bases = bases.numpy().astype(np.float64).transpose(1, 2, 0)  # (N, 3, E + K)
        self.expression_bases = np.ascontiguousarray(self.bases[..., : shape.n_expression])  # (N, 3, E)
        self.identity_bases = np.ascontiguousarray(self.bases[..., shape.n_expression :])  # (N, 3, K)
        self.n_expression = shape.n_expression

    def solve(self, views: list[View], identity: np.ndarray, fit_identity: bool, steps: int) -> np.ndarray:
        """Up to `steps` steps; the views' poses and expressions are updated in place; returns the identity."""
        identity = np.clip(identity, -IDENTITY_LIMIT, IDENTITY_LIMIT)
        poses = [(v.rotation, v.translation, np.clip(v.expression, 0.0, 1.0)) for v in views]
        damping = DAMPING
        for step in range(steps):
            if step % REPICK_EVERY == 0:  # new correspondences: the cost is taken afresh; else the last step's
                for view, pose in zip(views, poses, strict=True):
                    view.rotation, view.translation, view.expression = pose
                    view.rows, view.weights = view.repick(view, identity)
                    view.mean, view.bases = self.gathered(view.rows, identity, fit_identity)
                cost = self.cost(views, identity, poses)
            hessian, gradient, low, high = self.normal_equations(views, identity, poses, fit_identity)
            diagonal = np.eye(len(hessian)) * np.mean(np.diag(hessian))
            for _ in range(RETRIES):
                step_ = box_qp(hessian + damping * diagonal, gradient, low, high)
                trial_identity, trial_poses = self.moved(identity, poses, step_, fit_identity)
                trial_cost = self.cost(views, trial_identity, trial_poses)
                if trial_cost <= cost:
                    identity, poses, cost = trial_identity, trial_poses, trial_cost
                    damping = max(damping / 10, DAMPING)
                    break
                damping *= 10
            else:
                break
        for view, pose in zip(views, poses, strict=True):
            view.rotation, view.translation, view.expression = pose
        return identity

    def gathered(self, rows: np.ndarray, identity: np.ndarray, fit_identity: bool) -> tuple[np.ndarray, np.ndarray]:
        """The rows' points at rest and their bases, gathered once per pick. A held identity is folded into
        the points and its bases left out: a third of the bases to gather and multiply (a video's frames)."""
        if fit_identity:
            return self.mean[rows], self.bases[rows]
        return self.mean[rows] + self.identity_bases[rows] @ identity, self.expression_bases[rows]

    def cost(self, views: list[View], identity: np.ndarray, poses: list[Pose]) -> float:
        """The cost with the views' current correspondences."""
        total = IDENTITY_PRIOR * float(identity @ identity)
        for view, (rotation, translation, expression) in zip(views, poses, strict=True):
            pixels = self.project(view, identity, rotation, translation, expression, jacobian=False)[0]
            error = (((pixels - view.observed) / view.scale) ** 2).sum(axis=1)
            landmarks = float(view.weights @ error) / max(float(view.weights.sum()), 1e-6)
            prior = EXPRESSION_L1 * float(expression.sum())
            if view.rotation_prior:  # scipy's rotation vector costs ~0.3 ms a call: not when unweighted
                turn = _turn(rotation, view.prior_rotation)
                prior += view.rotation_prior * float(turn @ turn)
            total += (landmarks + prior) / len(views)
        return total

    def normal_equations(
        self, views: list[View], identity: np.ndarray, poses: list[Pose], fit_identity: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Half the cost's Gauss-Newton Hessian, minus its gradient, and the step's bounds, over the parameters
        per view [rotation vector, translation, expression], then the identity if it is fitted."""
        n, own = len(views), 6 + self.n_expression
        shared = np.arange(n * own, n * own + len(identity)) if fit_identity else np.zeros(0, dtype=np.int64)
        size = n * own + len(shared)
        hessian, gradient = np.zeros((size, size)), np.zeros(size)
        low, high = np.full(size, -np.inf), np.full(size, np.inf)
        if fit_identity:
            hessian[np.ix_(shared, shared)] += IDENTITY_PRIOR * np.eye(len(shared))
            gradient[shared] -= IDENTITY_PRIOR * identity
            low[shared], high[shared] = -IDENTITY_LIMIT - identity, IDENTITY_LIMIT - identity
        for i, (view, (rotation, translation, expression)) in enumerate(zip(views, poses, strict=True)):
            pixels, jacobian = self.project(view, identity, rotation, translation, expression, jacobian=True)
            w = np.sqrt(np.repeat(view.weights, 2) / (view.scale**2 * max(float(view.weights.sum()), 1e-6) * n))
            a = jacobian * w[:, None]
            columns = np.r_[np.arange(i * own, (i + 1) * own), shared]
            hessian[np.ix_(columns, columns)] += a.T @ a
            gradient[columns] -= a.T @ ((pixels - view.observed).reshape(-1) * w)
            r, e = slice(i * own, i * own + 3), slice(i * own + 6, (i + 1) * own)
            if view.rotation_prior:
                hessian[r, r] += view.rotation_prior / n * np.eye(3)
                gradient[r] -= view.rotation_prior / n * _turn(rotation, view.prior_rotation)
            gradient[e] -= EXPRESSION_L1 / (2 * n)  # the prior's slope on non-negative weights (cost halved)
            low[e], high[e] = -expression, 1.0 - expression
        return hessian, gradient, low, high

    def moved(
        self, identity: np.ndarray, poses: list[Pose], step: np.ndarray, fit_identity: bool
    ) -> tuple[np.ndarray, list[Pose]]:
        own = 6 + self.n_expression
        if fit_identity:
            identity = np.clip(identity + step[len(poses) * own :], -IDENTITY_LIMIT, IDENTITY_LIMIT)
        moved = []
        for (rotation, translation, expression), delta in zip(poses, step[: len(poses) * own].reshape(-1, own),
                                                              strict=True):  # fmt: skip
            moved.append((Rotation.from_rotvec(delta[:3]).as_matrix() @ rotation, translation + delta[3:6],
                          np.clip(expression + delta[6:], 0.0, 1.0)))  # fmt: skip
        return identity, moved

    def project(
        self,
        view: View,
        identity: np.ndarray,
        rotation: np.ndarray,
        translation: np.ndarray,
        expression: np.ndarray,
        jacobian: bool,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Pixels (P, 2) of the view's model points and, if `jacobian`, their Jacobian with respect to a
        small rotation vector applied before `rotation`, the translation, the expression and, unless the
        view's bases hold the expression's alone (the identity held, see gathered), the identity: (2P, 6 + E
        + K), or (2P, 6 + E)."""
        camera, bases = view.camera, view.bases
        held = bases.shape[2] == self.n_expression  # the identity is in view.mean (see gathered)
        rotated = (view.mean + bases @ (expression if held else np.concatenate([expression, identity]))) @ rotation.T
        points = rotated + translation
        depth = -points[:, 2]
        pixels = np.column_stack([camera.cx + camera.focal * points[:, 0] / depth,
                                  camera.cy - camera.focal * points[:, 1] / depth])  # fmt: skip
        if not jacobian:
            return pixels, None
        # Camera point = exp([w]x) R p + t: d/dw = -[R p]x at w = 0; d/dt = I; d/d(expression, identity) = R B
        # (a batched matmul: 2x faster than an einsum or tensordot with one BLAS thread: facerecon/__init__.py).
        cross = np.zeros((len(points), 3, 3))
        cross[:, 0, 1], cross[:, 0, 2] = rotated[:, 2], -rotated[:, 1]
        cross[:, 1, 0], cross[:, 1, 2] = -rotated[:, 2], rotated[:, 0]
        cross[:, 2, 0], cross[:, 2, 1] = rotated[:, 1], -rotated[:, 0]
        turned_bases = rotation @ bases  # (P, 3, E + K), or (P, 3, E) with the identity held (gathered)
        d_point = np.concatenate([cross, np.broadcast_to(np.eye(3), cross.shape), turned_bases], axis=2)
        # pixel = (cx + f X / d, cy - f Y / d) with d = -Z: two non-zero derivatives per pixel coordinate.
        scale, along = (camera.focal / depth)[:, None], points[:, :2] / depth[:, None]  # along: (X, Y) / d
        d_x = scale * (d_point[:, 0] + along[:, :1] * d_point[:, 2])
        d_y = -scale * (d_point[:, 1] + along[:, 1:] * d_point[:, 2])
        return pixels, np.stack([d_x, d_y], axis=1).reshape(-1, d_point.shape[2])


def _turn(rotation: np.ndarray, prior_rotation: np.ndarray) -> np.ndarray:
    """The rotation vector from prior_rotation to rotation."""
    return Rotation.from_matrix(rotation @ prior_rotation.T).as_rotvec()


def box_qp(hessian: np.ndarray, target: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """argmin x'Hx / 2 - target'x subject to low <= x <= high, H positive definite, by the primal-dual active
    set method (Hintermueller, Ito & Kunisch 2002): guess the bounds that hold from the last iterate and its
    gradient, solve the free variables exactly with the others at their bounds, and repeat until the guess
    repeats, when the KKT conditions hold. A few solves of the free block: ~10x faster than BVLS on our
    steps, to the same answer. Should the guesses cycle, BVLS decides."""
    step = 1.0 / np.diag(hessian)  # per variable, so the guess does not depend on the parameters' units
    x, gradient = np.linalg.solve(hessian, target), np.zeros(len(target))
    at_low = at_high = None
    for _ in range(ACTIVE_SET_ROUNDS):
        guess = x - step * gradient
        if at_low is not None and ((guess < low) == at_low).all() and ((guess > high) == at_high).all():
            return x
        at_low, at_high = guess < low, guess > high
        free = ~(at_low | at_high)
        x = np.where(at_low, low, np.where(at_high, high, 0.0))
        rhs = target[free] - hessian[np.ix_(free, ~free)] @ x[~free]
        x[free] = np.linalg.solve(hessian[np.ix_(free, free)], rhs)
        gradient = hessian @ x - target
    return bounded_least_squares(hessian, target, low, high)


def bounded_least_squares(hessian: np.ndarray, target: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """box_qp's problem as the bounded least squares |L'x - L^-1 target|² with H = LL' (BVLS on the small
    square system, not on the tall Jacobian)."""
    lower = np.linalg.cholesky(hessian)
    return lsq_linear(lower.T, solve_triangular(lower, target, lower=True), bounds=(low, high), method="bvls").x
