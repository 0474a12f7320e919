"""Precision and recall of generated digits (Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric
for Assessing Generative Models"): FID mixes two failures into one number, and these two tell them apart.

Each set's manifold is the union of balls around its features, each ball reaching the point's k-th nearest
neighbour in the set. Precision: the share of generated digits inside the real manifold (are they digits?).
Recall: the share of real digits inside the generated manifold (is every kind of digit drawn? a collapsed
generator draws few kinds: low recall at any precision).
"""

import torch

NEIGHBOURS = 3  # the paper's k
CHUNK = 1000  # rows of distances at a time: 1000 x 10,000 floats = 40 MB


def knn_radii(features: torch.Tensor, k: int = NEIGHBOURS) -> torch.Tensor:
    """Each row's distance to its k-th nearest neighbour among the rows (itself, at 0, not counted)."""
    return torch.cat([torch.cdist(rows, features).topk(k + 1, dim=1, largest=False).values[:, -1]
                      for rows in features.split(CHUNK)])


def share_inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> float:
    """The share of `points` within `radii` of at least one of `centres`."""
    inside = torch.cat([(torch.cdist(rows, centres) <= radii).any(dim=1) for rows in points.split(CHUNK)])
    return int(inside.sum()) / len(inside)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, real_radii: torch.Tensor | None = None,
                     k: int = NEIGHBOURS) -> tuple[float, float]:
    """(precision, recall) of `fake` features against `real` ones, `(n, d)` each with n > k; `real_radii`:
    `knn_radii(real, k)` when already known (the real digits stay the same from one validation to the next)."""
    for name, features in (("real", real), ("generated", fake)):
        if len(features) <= k:
            raise ValueError(f"precision and recall need more than k={k} {name} digits, got {len(features)}")
    real, fake = real.float(), fake.float()
    real_radii = knn_radii(real, k) if real_radii is None else real_radii
    return share_inside(fake, real, real_radii), share_inside(real, fake, knn_radii(fake, k))
