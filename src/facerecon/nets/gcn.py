"""Graph convolutional refinement of the face's per-vertex albedo (after Lin et al., CVPR 2020).

Chebyshev spectral convolutions (Defferrard et al., NeurIPS 2016) over the face region of our mesh. Per
vertex the network sees the photo's colour divided by the fitted shading (where the photo shows the
vertex), the same for its mirror vertex, and the coarse low-frequency albedo; it predicts a correction
of the coarse albedo. Training hides random patches of the photo's colours, so it learns to fill what the
photo does not show from the surroundings, the mirror side and the coarse albedo, not only to copy.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse
import torch
from torch import nn

from facerecon.model.surface import mesh_edges

CHANNELS = 32
ORDER = 3  # Chebyshev polynomial terms: each layer reaches 2 rings of neighbours
N_INPUT = 11  # de-lit colour (3) + shown (1), the mirror vertex's (4), coarse albedo (3)


def scaled_laplacian(faces: np.ndarray, n_vertices: int) -> torch.Tensor:
    """L - I for the normalised graph Laplacian L of the mesh edges (its spectrum lies in [-1, 1]), sparse CSR."""
    edges = mesh_edges(faces)
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    degree = np.bincount(rows, minlength=n_vertices).astype(np.float64)
    values = -1.0 / np.sqrt(degree[rows] * degree[cols])
    matrix = scipy.sparse.csr_matrix((values, (rows, cols)), shape=(n_vertices, n_vertices))
    with warnings.catch_warnings():  # "sparse CSR support is in beta": products with dense matrices are fine
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(  # CSR products run several times faster than COO ones on the CPU
            torch.from_numpy(matrix.indptr).long(),
            torch.from_numpy(matrix.indices).long(),
            torch.from_numpy(matrix.data).float(),
            (n_vertices, n_vertices),
        )


class ChebConv(nn.Module):
    def __init__(self, channels_in: int, channels_out: int, order: int = ORDER):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(order, channels_in, channels_out))
        self.bias = nn.Parameter(torch.zeros(channels_out))
        nn.init.xavier_uniform_(self.weight.view(-1, channels_out))

    def forward(self, x: torch.Tensor, laplacian: torch.Tensor) -> torch.Tensor:
        """x (B, V, C) -> (B, V, out): sum_k T_k(L) x W_k with T_0 = I, T_1 = L, T_k = 2 L T_(k-1) - T_(k-2)."""
        b, v, c = x.shape

        def apply(t: torch.Tensor) -> torch.Tensor:
            flat = t.transpose(0, 1).reshape(v, b * c)
            return torch.sparse.mm(laplacian, flat).reshape(v, b, c).transpose(0, 1)

        terms = [x, apply(x)]
        while len(terms) < self.weight.shape[0]:
            terms.append(2 * apply(terms[-1]) - terms[-2])
        return sum(t @ w for t, w in zip(terms, self.weight, strict=False)) + self.bias


class TextureGCN(nn.Module):
    """features (B, V, N_INPUT) -> albedo correction (B, V, 3) over the face region's vertices."""

    def __init__(self, faces: np.ndarray, n_vertices: int, layers: int = 5):
        super().__init__()
        self.register_buffer("laplacian", scaled_laplacian(faces, n_vertices), persistent=False)
        self.first = ChebConv(N_INPUT, CHANNELS)
        self.middle = nn.ModuleList(ChebConv(CHANNELS, CHANNELS) for _ in range(layers - 2))
        self.last = ChebConv(CHANNELS, 3)
        nn.init.zeros_(self.last.weight)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        h = nn.functional.elu(self.first(features, self.laplacian))
        for conv in self.middle:
            h = h + nn.functional.elu(conv(h, self.laplacian))
        return self.last(h, self.laplacian)


def gcn_features(
    colors: torch.Tensor, shown: torch.Tensor, shading: torch.Tensor, coarse: torch.Tensor, mirror: torch.Tensor
) -> torch.Tensor:
    """Per-vertex inputs (B, V, N_INPUT) from the photo's colours (B, V, 3), which it shows (B, V), the
    fitted shading (B, V, 3), the coarse albedo (B, V, 3) and the mirror map (V,) of the face region."""
    mask = shown.float()[..., None]
    delit = (colors / shading.clamp_min(0.05)).clamp(0, 1.5) * mask
    return torch.cat([delit, mask, delit[:, mirror], mask[:, mirror], coarse], dim=-1)
