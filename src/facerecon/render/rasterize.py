"""Z-buffer rasterisation of triangles into per-pixel triangle ids and barycentrics (vectorised NumPy).

Like nvdiffrast's `rasterize`, this step has no gradient: it only decides which triangle covers which
pixel. Gradients flow through `interpolate`, which recomputes values from differentiable vertex
attributes with these barycentrics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

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


def rasterize(screen: np.ndarray, faces: np.ndarray, height: int, width: int) -> Fragments:
    """screen: (V, 3) vertices as (x, y, depth) with x, y in pixels (pixel centres at integers) and depth
    > 0 growing away from the viewer; faces: (F, 3). Both windings are drawn; the nearest surface wins."""
    screen = np.asarray(screen, dtype=np.float64)
    tv = screen[np.asarray(faces)]  # (F, 3, 3)
    x0 = np.clip(np.ceil(tv[..., 0].min(1)), 0, width)
    x1 = np.clip(np.floor(tv[..., 0].max(1)), -1, width - 1)
    y0 = np.clip(np.ceil(tv[..., 1].min(1)), 0, height)
    y1 = np.clip(np.floor(tv[..., 1].max(1)), -1, height - 1)
    keep = (x1 >= x0) & (y1 >= y0) & (tv[..., 2].min(1) > 0)
    ids = np.flatnonzero(keep)
    bw = (x1 - x0 + 1)[ids].astype(np.int64)
    bh = (y1 - y0 + 1)[ids].astype(np.int64)

    depth = np.full(height * width, np.inf)
    tri = np.full(height * width, -1, dtype=np.int64)
    bary = np.zeros((height * width, 3))
    counts = bw * bh
    bounds = np.searchsorted(np.cumsum(counts), np.arange(0, counts.sum(), CHUNK_CANDIDATES), side="right")
    for lo, hi in zip(bounds, [*list(bounds[1:]), len(ids)], strict=True):
        _draw(tv, ids[lo:hi], x0, y0, bw[lo:hi], counts[lo:hi], width, depth, tri, bary)
    return Fragments(
        tri.reshape(height, width),
        bary.reshape(height, width, 3).astype(np.float32),
        depth.reshape(height, width).astype(np.float32),
    )


def _draw(tv, ids, x0, y0, bw, counts, width, depth, tri, bary) -> None:
    """Test every pixel of each triangle's bounding box; keep the nearest hit per pixel (in place)."""
    if len(ids) == 0:
        return
    owner = np.repeat(np.arange(len(ids)), counts)
    local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    face = ids[owner]
    px = x0[face] + local % bw[owner]
    py = y0[face] + local // bw[owner]
    a, b, c = tv[face, 0], tv[face, 1], tv[face, 2]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    with np.errstate(divide="ignore", invalid="ignore"):
        w1 = ((px - a[:, 0]) * (c[:, 1] - a[:, 1]) - (py - a[:, 1]) * (c[:, 0] - a[:, 0])) / area
        w2 = ((b[:, 0] - a[:, 0]) * (py - a[:, 1]) - (b[:, 1] - a[:, 1]) * (px - a[:, 0])) / area
    w0 = 1 - w1 - w2
    eps = -1e-7
    inside = (w0 >= eps) & (w1 >= eps) & (w2 >= eps) & (np.abs(area) > 1e-12)
    w = np.stack([w0, w1, w2], axis=1)[inside]
    z = (w * np.stack([a[:, 2], b[:, 2], c[:, 2]], axis=1)[inside]).sum(1)
    pixel = (py * width + px)[inside].astype(np.int64)
    face = face[inside]
    # Nearest per pixel within this chunk, then against what earlier chunks drew.
    order = np.lexsort((z, pixel))
    first = np.ones(len(order), dtype=bool)
    first[1:] = pixel[order][1:] != pixel[order][:-1]
    best = order[first]
    pixel, z = pixel[best], z[best]
    nearer = z < depth[pixel]
    pixel, best = pixel[nearer], best[nearer]
    depth[pixel] = z[nearer]
    tri[pixel] = face[best]
    bary[pixel] = w[best]


def interpolate(
    attributes: torch.Tensor, faces: torch.Tensor, fragments: Fragments, bary: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-pixel attribute (H, W, C) from per-vertex attributes (V, C); zero where no triangle covers.

    Differentiable with respect to `attributes`, and to vertex positions when `bary` comes from
    `barycentrics` (else the rasteriser's constant barycentrics are used).
    """
    mask = torch.from_numpy(fragments.mask)
    tri = torch.from_numpy(np.where(fragments.mask, fragments.tri, 0))
    if bary is None:
        bary = torch.from_numpy(fragments.bary).to(attributes.dtype)
    corners = attributes[faces[tri]]  # (H, W, 3, C)
    values = (bary[..., None] * corners).sum(-2)
    return values * mask[..., None].to(values.dtype)


def barycentrics(screen_xy: torch.Tensor, faces: torch.Tensor, fragments: Fragments) -> torch.Tensor:
    """Barycentrics (H, W, 3) of each pixel centre in its covering triangle, recomputed from `screen_xy`
    (V, 2) so that they are differentiable with respect to the vertex positions; zero where uncovered."""
    h, w = fragments.tri.shape
    mask = torch.from_numpy(fragments.mask)
    tri = torch.from_numpy(np.where(fragments.mask, fragments.tri, 0))
    corners = screen_xy[faces[tri]]  # (H, W, 3, 2)
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=screen_xy.dtype), torch.arange(w, dtype=screen_xy.dtype), indexing="ij"
    )
    a, b, c = corners.unbind(-2)
    area = (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0])
    area = torch.where(area.abs() < 1e-9, torch.full_like(area, 1e-9), area)
    w1 = ((xs - a[..., 0]) * (c[..., 1] - a[..., 1]) - (ys - a[..., 1]) * (c[..., 0] - a[..., 0])) / area
    w2 = ((b[..., 0] - a[..., 0]) * (ys - a[..., 1]) - (b[..., 1] - a[..., 1]) * (xs - a[..., 0])) / area
    bary = torch.stack([1 - w1 - w2, w1, w2], dim=-1)
    return bary * mask[..., None].to(bary.dtype)
