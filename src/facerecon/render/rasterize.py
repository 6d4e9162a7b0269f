"""Z-buffer rasterisation of triangles into per-pixel triangle ids and barycentrics (vectorised NumPy).

Like nvdiffrast's `rasterize`, this step has no gradient: it only decides which triangle covers which
pixel. Gradients flow through `interpolate`, which recomputes values from differentiable vertex
attributes with these barycentrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from facerecon.model.surface import barycentric_sum, corner_values

CHUNK_CANDIDATES = 4_000_000  # pixel/triangle pairs tested at once, bounds memory to ~200 MB


@dataclass(frozen=True)
class Fragments:
    """Per pixel: covering triangle id (H, W) int64, -1 for none; barycentrics (H, W, 3) float32;
    depth (H, W) float32, +inf for none."""

    tri: np.ndarray
    bary: np.ndarray
    depth: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        return self.tri >= 0

    @cached_property
    def covered(self) -> np.ndarray:
        """(N,) the covered pixels' flat indices, in image order: found once, read by every interpolation
        and lay-out of the same rasterisation."""
        return np.flatnonzero(self.mask)


def rasterize(screen: np.ndarray, faces: np.ndarray, height: int, width: int, cull_back: bool = False) -> Fragments:
    """screen: (V, 3) vertices as (x, y, depth) with x, y in pixels (pixel centres at integers) and depth
    > 0 growing away from the viewer; faces: (F, 3). The nearest surface wins. With cull_back, triangles
    that turn their back to the viewer (clockwise in the camera's view, which is y-up) are not drawn."""
    screen = np.asarray(screen, dtype=np.float64)
    tv = screen[np.asarray(faces)]  # (F, 3, 3)
    if cull_back:
        # Screen y points down, so a counter-clockwise (front) triangle has a negative signed area here.
        signed = (tv[:, 1, 0] - tv[:, 0, 0]) * (tv[:, 2, 1] - tv[:, 0, 1]) - (tv[:, 1, 1] - tv[:, 0, 1]) * (
            tv[:, 2, 0] - tv[:, 0, 0]
        )
        tv = np.where((signed < 0)[:, None, None], tv, np.nan)  # NaN boxes are dropped below
    (x_low, y_low, z_low), (x_high, y_high, z_high) = _corner_extremes(tv)
    x0 = np.clip(np.ceil(x_low), 0, width)
    x1 = np.clip(np.floor(x_high), -1, width - 1)
    y0 = np.clip(np.ceil(y_low), 0, height)
    y1 = np.clip(np.floor(y_high), -1, height - 1)
    # A NaN or infinite corner shows in its coordinate's minimum or maximum, and so in their sum.
    finite = np.isfinite(x_low + x_high + y_low + y_high + z_low + z_high)
    keep = (x1 >= x0) & (y1 >= y0) & (z_low > 0) & finite
    ids = np.flatnonzero(keep)
    bw = (x1 - x0 + 1)[ids].astype(np.int64)
    bh = (y1 - y0 + 1)[ids].astype(np.int64)

    depth = np.full(height * width, np.inf)
    tri = np.full(height * width, -1, dtype=np.int64)
    bary = np.zeros((height * width, 3))
    counts = bw * bh
    bounds = np.searchsorted(np.cumsum(counts), np.arange(0, counts.sum(), CHUNK_CANDIDATES), side="right")
    for lo, hi in zip(bounds, [*list(bounds[1:]), len(ids)][: len(bounds)], strict=True):  # none when nothing shows
        _draw(tv, ids[lo:hi], x0, y0, bw[lo:hi], counts[lo:hi], width, depth, tri, bary)
    return Fragments(
        tri.reshape(height, width),
        bary.reshape(height, width, 3).astype(np.float32),
        depth.reshape(height, width).astype(np.float32),
    )


def _corner_extremes(tv: np.ndarray) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Per triangle (F, 3 corners, 3 coordinates): the minimum and the maximum of x, y and depth over its
    corners, from elementwise minima and maxima of the corners (NumPy reduces a 3-long axis row by row, ~10x
    slower)."""
    low = tuple(np.minimum(np.minimum(tv[:, 0, k], tv[:, 1, k]), tv[:, 2, k]) for k in range(3))
    high = tuple(np.maximum(np.maximum(tv[:, 0, k], tv[:, 1, k]), tv[:, 2, k]) for k in range(3))
    return low, high


def nearer(first: Fragments, second: Fragments, offset: int) -> Fragments:
    """Two rasterisations merged as if drawn into one z-buffer: per pixel the nearer surface; `second`'s
    triangle ids are shifted by `offset` (its faces follow `first`'s in the combined mesh)."""
    near = second.depth < first.depth
    return Fragments(
        np.where(near, second.tri + offset, first.tri),
        np.where(near[..., None], second.bary, first.bary),
        np.where(near, second.depth, first.depth),
    )


def _draw(
    tv: np.ndarray,
    ids: np.ndarray,
    x0: np.ndarray,
    y0: np.ndarray,
    bw: np.ndarray,
    counts: np.ndarray,
    width: int,
    depth: np.ndarray,
    tri: np.ndarray,
    bary: np.ndarray,
) -> None:
    """Test every pixel of each triangle's bounding box; keep the nearest hit per pixel (in place)."""
    if len(ids) == 0:
        return
    # Per triangle, barycentrics and depth are affine in (x, y): w = gx * x + gy * y + g0.
    a, b, c = tv[ids, 0], tv[ids, 1], tv[ids, 2]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    area = np.where(np.abs(area) > 1e-12, area, np.inf)  # degenerate triangles cover nothing
    coeff = np.empty((len(ids), 3, 3), dtype=np.float32)  # rows: w1, w2, depth; columns: x, y, 1
    coeff[:, 0] = np.stack([a[:, 1] - c[:, 1], c[:, 0] - a[:, 0], (c[:, 1] - a[:, 1]) * a[:, 0]
                            - (c[:, 0] - a[:, 0]) * a[:, 1]], axis=1) / -area[:, None]  # fmt: skip
    coeff[:, 1] = np.stack([a[:, 1] - b[:, 1], b[:, 0] - a[:, 0], (b[:, 1] - a[:, 1]) * a[:, 0]
                            - (b[:, 0] - a[:, 0]) * a[:, 1]], axis=1) / area[:, None]  # fmt: skip
    dz1, dz2 = (b[:, 2] - a[:, 2])[:, None], (c[:, 2] - a[:, 2])[:, None]
    coeff[:, 2] = dz1 * coeff[:, 0] + dz2 * coeff[:, 1]
    coeff[:, 2, 2] += a[:, 2]

    owner = np.repeat(np.arange(len(ids)), counts)
    local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    row, column = np.divmod(local, np.take(bw, owner))  # one pass for both
    px = (np.take(x0[ids], owner) + column).astype(np.float32)
    py = (np.take(y0[ids], owner) + row).astype(np.float32)
    # The barycentrics' coefficients only (depth is needed inside the triangles alone); np.take gathers rows
    # ~3x faster than indexing.
    k = np.take(coeff[:, :2], owner, axis=0)
    w1 = k[:, 0, 0] * px + k[:, 0, 1] * py + k[:, 0, 2]
    w2 = k[:, 1, 0] * px + k[:, 1, 1] * py + k[:, 1, 2]
    eps = -1e-6
    inside = np.flatnonzero((w1 >= eps) & (w2 >= eps) & (1 - w1 - w2 >= eps))
    owner, w1, w2, px, py = owner[inside], w1[inside], w2[inside], px[inside], py[inside]
    kz = np.take(coeff[:, 2], owner, axis=0)
    z = (kz[:, 0] * px + kz[:, 1] * py + kz[:, 2]).astype(np.float64)
    pixel = py.astype(np.int64) * width + px.astype(np.int64)
    # Nearest per pixel: a minimum-scatter into the depth buffer, then the candidates that match it.
    before = depth[pixel]
    np.minimum.at(depth, pixel, z)
    winner = (z == depth[pixel]) & (z < before)
    pixel = pixel[winner]
    tri[pixel] = ids[owner[winner]]
    w1, w2 = w1[winner], w2[winner]
    bary[pixel, 0], bary[pixel, 1], bary[pixel, 2] = 1 - w1 - w2, w1, w2  # by column: 3x faster than rows


def interpolate(
    attributes: torch.Tensor, faces: torch.Tensor, fragments: Fragments, bary: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-pixel attribute (H, W, C) from per-vertex attributes (V, C); zero where no triangle covers.

    Differentiable with respect to `attributes`, and to vertex positions when `bary` comes from
    `barycentrics` (else the rasteriser's constant barycentrics are used). Only the covered pixels are
    computed (forward and backward), then laid out in the image.
    """
    return laid_out(interpolate_covered(attributes, faces, fragments, bary), fragments)


def interpolate_covered(
    attributes: torch.Tensor, faces: torch.Tensor, fragments: Fragments, bary: torch.Tensor | None = None
) -> torch.Tensor:
    """`interpolate`'s values (N, C) at the covered pixels alone, in flattened image order."""
    covered = torch.from_numpy(fragments.covered)
    tri = torch.from_numpy(fragments.tri.reshape(-1)).index_select(0, covered)
    weights = torch.from_numpy(fragments.bary) if bary is None else bary
    weights = weights.reshape(-1, 3).index_select(0, covered).to(attributes.dtype)
    return barycentric_sum(weights, corner_values(attributes, faces.index_select(0, tri)))


def laid_out(values: torch.Tensor, fragments: Fragments) -> torch.Tensor:
    """Values (N, C) at the covered pixels (in flattened image order) as an image (H, W, C), zero elsewhere."""
    h, w = fragments.tri.shape
    covered = torch.from_numpy(fragments.covered)
    return values.new_zeros(h * w, values.shape[-1]).index_copy(0, covered, values).reshape(h, w, -1)


def barycentrics(screen_xy: torch.Tensor, faces: torch.Tensor, fragments: Fragments) -> torch.Tensor:
    """Barycentrics (H, W, 3) of each pixel centre in its covering triangle, recomputed from `screen_xy`
    (V, 2) so that they are differentiable with respect to the vertex positions; zero where uncovered.
    Only the covered pixels are computed."""
    h, w = fragments.tri.shape
    covered = fragments.covered
    corners = screen_xy[faces[torch.from_numpy(fragments.tri.reshape(-1)[covered])]]  # (N, 3, 2)
    pixels = torch.from_numpy(np.column_stack([covered % w, covered // w]).astype(np.float64))
    values = pixel_barycentrics(corners, pixels.to(screen_xy.dtype))
    out = values.new_zeros(h * w, 3).index_copy(0, torch.from_numpy(covered), values)
    return out.reshape(h, w, 3)


def pixel_barycentrics(corners: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """Barycentrics (N, 3) of points `pixels` (N, 2) in triangles `corners` (N, 3, 2), differentiable."""
    a, b, c = corners.unbind(-2)
    xs, ys = pixels.unbind(-1)
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    area = torch.where(area.abs() < 1e-9, torch.full_like(area, 1e-9), area)
    w1 = ((xs - a[:, 0]) * (c[:, 1] - a[:, 1]) - (ys - a[:, 1]) * (c[:, 0] - a[:, 0])) / area
    w2 = ((b[:, 0] - a[:, 0]) * (ys - a[:, 1]) - (b[:, 1] - a[:, 1]) * (xs - a[:, 0])) / area
    return torch.stack([1 - w1 - w2, w1, w2], dim=-1)
