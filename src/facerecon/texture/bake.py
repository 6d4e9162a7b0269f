"""Bake a UV texture from the photo: project the fitted mesh, sample visible texels, fill the rest.

Texels the photo sees (in front in the z-buffer, facing the camera) take the photo's colour, faded into the
fill as they turn away from the camera (no hard edge where the photo's view ends); unseen texels of the
face region take the colour of their mirror image on the other side of the face where the photo sees that
frontally, never the side or back of the head, which the photo shows nothing of; whatever remains (the
back of the head, the ears' hidden side) takes a colour spread smoothly over the mesh's surface from the
seen texels (a harmonic fill on the vertices: continuous across the UV layout's seams, where a fill in the
texture left a step between the face's tile and the head's; the scalp leans towards the hair's colour
where the photo shows hair on top of the head), and each texel of the gutters between UV islands takes
its nearest island texel's colour, so no black holes, ghosts or seams remain. UV (0, 0) is the
bottom-left of the texture (OBJ and glTF convention after their own flips).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.sparse import csr_matrix, diags
from scipy.sparse.linalg import splu

from facerecon.model.face_model import FaceModel
from facerecon.model.surface import surface_points, uniform_laplacian
from facerecon.render.rasterize import rasterize
from facerecon.scene import FaceScene

# The photo is read through the face's window at up to this many times the texture's side in pixels; a finer
# photo is area-filtered down to that first (the face fills ~half the texture: ~2 window pixels per texel).
SOURCE_OVERSAMPLING = 2
# Facing cosines over which a seen texel's photo colour fades in (below: the fill from more frontal texels).
FEATHER = (0.2, 0.45)
# A mirrored colour comes only from a point the photo sees at least this frontally (fading in above it).
MIRROR_FEATHER = (0.5, 0.75)
BORDER_SIGMA = 6.0  # texels: the neighbourhood whose mean colours are matched where mirrored meets seen
BORDER_FADE = 40.0  # texels over which that correction fades into the mirrored region (both at full size)
OFFSET_SCALE = 4  # that correction is smooth: it is found at 1/4 of the texture's side
MAX_OFFSET = 40.0  # grey levels
# How strongly a vertex whose texels the photo shows holds their colour against the surface fill's smoothing
# (per unit of confidence; the graph Laplacian's diagonal is a vertex's ~6 neighbours).
FILL_STIFFNESS = 100.0
FIXED_HOLD = 0.9  # a vertex held at this fraction of FILL_STIFFNESS or more keeps its texels' colour outright
# Where the photo shows hair on the top of the head (the head tile's vertices above the brows on the mean face),
# the unseen rest of the scalp leans towards that hair's median colour, this strongly per vertex (its pull
# reaches ~sqrt(6 / 0.05) = 11 edges from what the photo shows).
HAIR_PULL = 0.05
MIN_HAIR_VERTICES = 20  # seen scalp vertices needed for a hair colour


@dataclass(frozen=True)
class BakedTexture:
    texture: np.ndarray  # (S, S, 3) uint8
    texels: np.ndarray  # (N, 3) uint8: the texture's colours at TextureBaker.texel_index (inside the UV islands)
    seen: np.ndarray  # (S, S) bool: texels the photo shows directly
    mirrored: np.ndarray  # (S, S) bool: texels coloured from their mirror image (then matched at the border)


class TextureBaker:
    """Rasterises the UV layout once; bakes a texture per fitted face.

    Each texel is a surface point: `texel_weights` is the sparse (N, V) matrix of its triangle's barycentrics,
    so that any per-vertex value reaches every texel in one product; `mirror_weights` is the same for the
    mirror image of each texel's point on the other side of the face.
    """

    def __init__(self, model: FaceModel, size: int = 1024):
        self.model, self.size = model, size
        uv_screen = np.column_stack(
            [model.uv[:, 0] * size - 0.5, (1 - model.uv[:, 1]) * size - 0.5, np.ones(len(model.uv))]
        )
        frags = rasterize(uv_screen, model.face_uv, size, size)
        self.texel_mask = frags.mask
        self.texel_index = frags.covered  # into the flattened (S * S) texture
        # Each texture pixel's position among the texels, N outside the islands (a zero row for `gathered`).
        self.texel_slot = np.where(frags.mask.ravel(), np.cumsum(frags.mask.ravel()) - 1, len(self.texel_index))
        self.nearest_texel = nearest_texel(frags.mask)
        tri, bary = frags.tri[frags.mask], frags.bary[frags.mask]
        self.in_face_region = tri < model.n_face_triangles
        rows = np.arange(0, 3 * len(tri) + 1, 3)
        shape = (len(tri), len(model.mean))
        self.texel_weights = csr_matrix((bary.ravel(), model.faces[tri].ravel(), rows), shape=shape)
        self.mirror_weights = csr_matrix((bary.ravel(), model.mirror[model.faces[tri]].ravel(), rows), shape=shape)
        self.texels_per_vertex = np.asarray(self.texel_weights.sum(axis=0)).ravel()  # (V,) barycentric weight
        self.laplacian = uniform_laplacian(model.faces, len(model.mean))
        self.scalp = scalp_vertices(model)

    def bake(self, image: np.ndarray, scene: FaceScene, open_mouth: np.ndarray | None = None) -> BakedTexture:
        """image: the RGB uint8 photo; scene: the fitted face's (facerecon.scene); open_mouth: the photo's
        inner lip line (M, 2) pixels, inside which the photo shows teeth or mouth, never skin: no texel takes
        a colour from there (the fitted lips may cover it where the photo's mouth is open wider)."""
        screen, facing = scene.at(self.texel_weights)
        pixel = scene.pixel_of(screen)
        direct = scene.sees(screen, facing, pixel)
        if open_mouth is not None:
            direct &= ~scene.inside(open_mouth, pixel)
        todo = np.flatnonzero(~direct & self.in_face_region)
        mirror_screen, mirror_facing = scene.at(self.mirror_weights[todo])
        mirror_pixel = scene.pixel_of(mirror_screen)
        mirrored = scene.sees(mirror_screen, mirror_facing, mirror_pixel) & (mirror_facing > MIRROR_FEATHER[0])
        if open_mouth is not None:
            mirrored &= ~scene.inside(open_mouth, mirror_pixel)
        direct_at, mirrored_at = np.flatnonzero(direct), np.flatnonzero(mirrored)
        from_mirror = todo[mirrored_at]
        shown = np.concatenate([direct_at, from_mirror])
        # Column by column: NumPy gathers rows of 2 or 3 with a loop over each row's items (~10x slower).
        xy = np.empty((len(shown), 2), dtype=np.float32)
        for k in range(2):
            xy[:, k] = np.concatenate([screen[:, k][direct_at], mirror_screen[:, k][mirrored_at]])
        photo = scene.photo_colors(image, xy, SOURCE_OVERSAMPLING * self.size)
        values = scattered(photo, shown, len(self.texel_index))
        held = np.zeros(len(self.texel_index), dtype=np.float32)
        held[shown] = np.concatenate([ramp(facing[direct], *FEATHER), ramp(mirror_facing[mirrored], *MIRROR_FEATHER)])
        seen, mirrored_texels = self.to_texture(direct), self.to_texture(self.mask_of(from_mirror))
        offset = border_offset(self.to_texture(values), seen, mirrored_texels)
        values[from_mirror] += np.take(offset.reshape(-1, 3), self.texel_index[from_mirror], axis=0)
        colours = self.texel_weights @ self.surface_fill(values, held).astype(np.float32)
        # The photo's colours where held, the fill elsewhere; column by column: NumPy broadcasts held[:, None]
        # over the 3-wide texels with a 3-long inner loop per row, 4x slower (17 -> 6 ms).
        for k in range(3):
            colours[:, k] += held * (values[:, k] - colours[:, k])
        texels = np.clip(colours + 0.5, 0, 255).astype(np.uint8)
        return BakedTexture(self.layout(texels), texels, seen, mirrored_texels)

    def surface_fill(self, colours: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        """(V, 3) vertex colours that keep the texels' colours (N, 3) where their confidence (N,) is high and
        spread them smoothly over the surface elsewhere: the minimum of the squared colour differences along
        the mesh's edges plus FILL_STIFFNESS x each vertex's mean texel confidence x its squared distance from
        its texels' mean colour, plus HAIR_PULL x each scalp vertex's from the seen hair's (a sparse solve over
        the vertices held below FIXED_HOLD; the others keep their texels' mean colour)."""
        # Texels -> their vertices (the transpose is a CSC view of the same arrays: no copy).
        weighted = np.empty((len(colours), 4), dtype=np.float32)
        for k in range(3):  # by column: broadcasting confidence[:, None] over the 3-wide rows is ~5x slower
            np.multiply(colours[:, k], confidence, out=weighted[:, k])
        weighted[:, 3] = confidence
        sums = self.texel_weights.T @ weighted
        held = sums[:, 3]
        target = sums[:, :3] / np.maximum(held, 1e-6)[:, None]
        stiffness = FILL_STIFFNESS * held / np.maximum(self.texels_per_vertex, 1e-6)
        # A faint pull to the mean seen colour keeps a part of the mesh that no seen texel reaches determined;
        # the unseen scalp leans towards the seen scalp's colour (the hair's) where the photo shows enough.
        pull = np.full(len(stiffness), 1e-6 * stiffness.max(initial=1.0))
        prior = np.tile((stiffness @ target) / max(float(stiffness.sum()), 1e-6), (len(stiffness), 1))
        hair = self.scalp & (stiffness > FILL_STIFFNESS / 2)
        if hair.sum() >= MIN_HAIR_VERTICES:
            pull[self.scalp], prior[self.scalp] = HAIR_PULL, np.median(target[hair], axis=0)
        # Vertices the photo holds almost fully keep their texels' mean colour (the stiff term gives them that
        # to within a grey level): only the rest is solved for (~60 % of the vertices of a frontal face).
        held_fully = stiffness >= FIXED_HOLD * FILL_STIFFNESS
        fixed, free = np.flatnonzero(held_fully), np.flatnonzero(~held_fully)
        solution = target.copy()
        if len(free):
            rows = (self.laplacian + diags(stiffness + pull)).tocsr()[free]
            rhs = stiffness[free, None] * target[free] + pull[free, None] * prior[free] - rows[:, fixed] @ target[fixed]
            # The system is symmetric: a symmetric fill-reducing order factorises it faster than spsolve's COLAMD.
            factor = splu(rows[:, free].tocsc(), permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})
            solution[free] = factor.solve(rhs)
        return solution

    def mask_of(self, positions: np.ndarray) -> np.ndarray:
        """(N,) bool: True at these positions among the texels."""
        out = np.zeros(len(self.texel_index), dtype=bool)
        out[positions] = True
        return out

    def layout(self, values: np.ndarray) -> np.ndarray:
        """Per-texel values (N, C) laid out as the texture (S, S, C); each gutter texel between the UV islands
        takes its nearest island texel's value, so that bilinear lookups and mip-maps at an island's edge read
        the island's own colours. (np.take gathers the rows ~3x faster than indexing: 13 -> 4.5 ms at 1024².)"""
        return np.take(values, self.nearest_texel, axis=0).reshape(self.size, self.size, values.shape[1])

    def to_texture(self, values: np.ndarray) -> np.ndarray:
        """Per-texel values (N, ...) laid out as the texture (S, S, ...), 0 outside the UV islands."""
        return gathered(values, self.texel_slot).reshape(self.size, self.size, *values.shape[1:])


def scattered(values: np.ndarray, positions: np.ndarray, length: int) -> np.ndarray:
    """(length, ...) zeros but `values` (M, ...) at `positions` (M,), by a gather: np.take copies whole rows,
    where NumPy's row scatter loops over each row's items (~4x slower for rows of 3)."""
    slot = np.full(length, len(values), dtype=np.intp)
    slot[positions] = np.arange(len(values))
    return gathered(values, slot)


def gathered(values: np.ndarray, slot: np.ndarray) -> np.ndarray:
    """values[slot] (rows), with zero rows where `slot` is len(values)."""
    padded = np.concatenate([values, np.zeros((1, *values.shape[1:]), dtype=values.dtype)])
    return np.take(padded, slot, axis=0)


def nearest_texel(mask: np.ndarray) -> np.ndarray:
    """(H * W,) for every pixel, the position among the mask's pixels (in flattened order) of the nearest
    one: itself inside the mask."""
    _, labels = cv2.distanceTransformWithLabels(
        (~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5, labelType=cv2.DIST_LABEL_PIXEL
    )
    # Each mask pixel has a label of its own; every other pixel carries its nearest mask pixel's label.
    position = np.zeros(labels.max() + 1, dtype=np.int32)
    position[labels[mask]] = np.arange(int(mask.sum()), dtype=np.int32)
    return position[labels.ravel()]


def scalp_vertices(model: FaceModel) -> np.ndarray:
    """(V,) bool: the head tile's vertices above the brows' mean height on the mean face (the hair's)."""
    mean = model.mean.numpy().astype(np.float64)
    brows = surface_points(mean, model.faces, model.landmarks68.tri[17:27], model.landmarks68.bary[17:27])
    return (np.arange(len(mean)) >= model.n_face_vertices) & (mean[:, 1] > brows[:, 1].mean())


def push_pull_fill(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Fill (H, W, C) `values` smoothly where their `weight` (H, W) in [0, 1] (or bool) is low, from where it
    is high (pull: weighted image pyramid; push: coarser levels fill the finer ones). Weight 1 keeps a pixel,
    0 replaces it, between blends the two."""
    values = np.asarray(values, dtype=np.float32)
    weight = np.asarray(weight, dtype=np.float32)
    if not weight.any():
        return np.zeros_like(values)
    h, w = values.shape[:2]
    if min(h, w) <= 1:
        mean = (values * weight[..., None]).sum((0, 1)) / weight.sum()
        return weight[..., None] * values + (1 - weight[..., None]) * mean
    size = ((w + 1) // 2, (h + 1) // 2)
    # Averages of colour x weight and of weight over 2x2 blocks; their ratio is the weighted mean colour.
    coarse_sum = cv2.resize(values * weight[..., None], size, interpolation=cv2.INTER_AREA).reshape(
        size[1], size[0], -1
    )
    coarse_w = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
    coarse = coarse_sum / np.maximum(coarse_w, 1e-12)[..., None]
    coarse = push_pull_fill(coarse, coarse_w > 0)
    up = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, -1)
    return weight[..., None] * values + (1 - weight[..., None]) * up


def border_offset(texture: np.ndarray, seen: np.ndarray, mirrored: np.ndarray) -> np.ndarray:
    """(H, W, 3) the smooth offset to add to the mirrored texels' colours so that they meet the seen ones
    without a step (the two sides of a face are lit differently): the difference of the two sides' local
    means where they touch, spread over the mirrored region (a cheap stand-in for Poisson blending), found at
    1/OFFSET_SCALE of the texture's side. `texture` is 0 outside the seen and mirrored texels."""
    h, w = seen.shape
    if not mirrored.any() or not seen.any():
        return np.zeros((h, w, 3), dtype=np.float32)
    small_size = (w // OFFSET_SCALE, h // OFFSET_SCALE)
    coverage = cv2.resize((seen | mirrored).astype(np.float32), small_size, interpolation=cv2.INTER_AREA)
    small = cv2.resize(texture, small_size, interpolation=cv2.INTER_AREA)
    small /= np.maximum(coverage, 1e-6)[..., None]
    seen_small = cv2.resize(seen.astype(np.float32), small_size, interpolation=cv2.INTER_AREA) > 0.5
    mirrored_small = cv2.resize(mirrored.astype(np.float32), small_size, interpolation=cv2.INTER_AREA) > 0.5
    border = mirrored_small & cv2.dilate(seen_small.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    if not border.any():
        return np.zeros((h, w, 3), dtype=np.float32)
    offset = np.zeros_like(small)
    sigma = BORDER_SIGMA / OFFSET_SCALE
    offset[border] = (local_mean(small, seen_small, sigma) - local_mean(small, mirrored_small, sigma))[border]
    # The correction fades with the distance from the border and stays moderate: where the seen side there is
    # hair or background, its colour must not flood the mirrored skin.
    distance = cv2.distanceTransform((~border).astype(np.uint8), cv2.DIST_L2, 5)
    fade = np.exp(-distance / (BORDER_FADE / OFFSET_SCALE))[..., None]
    spread = np.clip(push_pull_fill(offset, border), -MAX_OFFSET, MAX_OFFSET) * fade
    return cv2.resize(spread, (w, h), interpolation=cv2.INTER_LINEAR)


def local_mean(values: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-weighted mean of (H, W, C) values over the pixels of `mask` around each pixel."""
    weight = mask.astype(np.float32)
    total = cv2.GaussianBlur(values * weight[..., None], (0, 0), sigma)
    return total / np.maximum(cv2.GaussianBlur(weight, (0, 0), sigma), 1e-6)[..., None]


def ramp(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """0 below `low`, 1 above `high`, smooth (smoothstep) between."""
    t = np.clip((x - low) / (high - low), 0.0, 1.0)
    return t * t * (3 - 2 * t)
