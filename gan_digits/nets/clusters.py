"""Self-conditioning: k-means clusters of the training digits stand in for labels, no labels used.

An unconditional G must turn continuous noise into ten separate digits, and what it draws between
two of them is a malformed digit: most of an unconditional DCGAN's FID. With `clusters=K` the
training digits are grouped once, before training, by k-means on their pixels; G draws a cluster
from its own noise (as often as the cluster holds training digits) and D scores every image
against its cluster with the projection head a cDCGAN uses for digits. This is the self-
conditioned GAN of Liu et al. (CVPR 2020) with fixed pixel clusters. The contract stays G(z), D(x).
A conditional model gets K clusters within each digit: the styles of a digit, drawn as often as
the training set holds them.
"""

import torch

from gan_digits.checks import ConfigError


def sq_distances(points: torch.Tensor, centroids: torch.Tensor, point_norms: torch.Tensor | None = None) -> torch.Tensor:
    """Squared distances `(N, K)`, as one matrix product (cdist is several times slower on a CPU);
    `point_norms`, the points' squared norms `(N, 1)`, can be computed once for many calls."""
    if point_norms is None:
        point_norms = points.square().sum(1, keepdim=True)
    return (point_norms - 2 * points @ centroids.T + centroids.square().sum(1)).clamp_(min=0)


def nearest(points: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """The index of each point's nearest centroid, computed in float32 whatever the points' dtype."""
    return sq_distances(points.flatten(1).float(), centroids).argmin(dim=1)


@torch.no_grad()
def kmeans(points: torch.Tensor, k: int, iters: int = 20, seed: int = 0) -> torch.Tensor:
    """Centroids `(k, D)` of float `points` `(N, D)`: seeded k-means++ start, then Lloyd's steps."""
    if not 2 <= k <= len(points):
        raise ValueError(f"cannot make {k} clusters of {len(points)} digits: expected 2 <= clusters <= {len(points)}")
    rng = torch.Generator().manual_seed(seed)
    norms = points.square().sum(1, keepdim=True)
    centroids = points[torch.randint(len(points), (1,), generator=rng)]
    closest = sq_distances(points, centroids, norms)[:, 0]
    for _ in range(k - 1):  # k-means++: a new centroid far from those chosen, drawn by squared distance
        pick = points[torch.multinomial(closest, 1, generator=rng)]
        centroids = torch.cat([centroids, pick])
        closest = torch.minimum(closest, sq_distances(points, pick, norms)[:, 0])
    for _ in range(iters):
        assigned = sq_distances(points, centroids, norms).argmin(dim=1)
        sums = torch.zeros_like(centroids).index_add_(0, assigned, points)
        counts = torch.bincount(assigned, minlength=k)
        # An emptied cluster keeps its centroid rather than dividing by zero.
        centroids = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], centroids)
    return centroids


def fit_clusters(images: torch.Tensor, k: int, labels: torch.Tensor | None = None,
                 num_classes: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Centroids `(C, k, 784)` in the nets' [-1, 1] range and the number of digits in each cluster
    `(C, k)`, from uint8 training digits `(N, 28, 28)`: k clusters of each of the `num_classes`
    digits in `labels`, or (C = 1) of all the digits."""
    points = images.flatten(1).float().div_(127.5).sub_(1.0)
    groups = [points] if labels is None else [points[labels == digit] for digit in range(num_classes)]
    for digit, group in enumerate(groups):
        if len(group) < k:
            of = "training digits" if labels is None else f"training images of digit {digit}"
            raise ConfigError(f"model.generator.clusters={k} is more than the {len(group)} {of}: "
                              "lower it, or train on more digits (data.subset)")
    centroids = torch.stack([kmeans(group, k) for group in groups])
    sizes = torch.stack([torch.bincount(nearest(group, c), minlength=k) for group, c in zip(groups, centroids)])
    return centroids, sizes
