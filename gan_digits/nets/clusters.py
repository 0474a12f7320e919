"""Self-conditioning: clusters of the training digits stand in for labels, no labels used.

An unconditional G must turn continuous noise into ten separate digits, and what it draws between
two of them is a malformed digit: most of an unconditional DCGAN's FID. With `clusters=K` the
training digits are grouped once, before training, without their labels: by k-means on their
pixels, or (`fine`) into unions of small k-means clusters that follow the digits' manifold; G draws
a cluster from its own noise (as often as the cluster holds training digits) and D scores every
image against its cluster with the projection head a cDCGAN uses for digits. This is the self-
conditioned GAN of Liu et al. (CVPR 2020) with clusters fixed before training. The contract stays
G(z), D(x). A conditional model gets K clusters within each digit: the styles of a digit, drawn as
often as the training set holds them.
"""

import torch

from gan_digits.checks import ConfigError


def sq_distances(points: torch.Tensor, centroids: torch.Tensor, point_norms: torch.Tensor | None = None) -> torch.Tensor:
    """Squared distances `(N, K)`, as one matrix product (cdist is several times slower on a CPU);
    `point_norms`, the points' squared norms `(N, 1)`, can be computed once for many calls.
    In the points' own dtype even inside bf16 autocast (training's): there the product ran in bf16,
    whose 8-bit mantissa gave 1-2% of real digits another nearest centroid than float32 does."""
    with torch.autocast(points.device.type, enabled=False):
        if point_norms is None:
            point_norms = points.square().sum(1, keepdim=True)
        return (point_norms - 2 * points @ centroids.T + centroids.square().sum(1)).clamp_(min=0)


def nearest(points: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """The index of each point's nearest centroid, computed in float32 whatever the points' dtype."""
    return sq_distances(points.flatten(1).float(), centroids).argmin(dim=1)


def lloyd(points: torch.Tensor, centroids: torch.Tensor, iters: int, norms: torch.Tensor | None = None) -> torch.Tensor:
    """Lloyd's k-means steps from `centroids` `(k, D)`; `norms` are the points' squared norms `(N, 1)`."""
    if norms is None:
        norms = points.square().sum(1, keepdim=True)
    for _ in range(iters):
        assigned = sq_distances(points, centroids, norms).argmin(dim=1)
        sums = torch.zeros_like(centroids).index_add_(0, assigned, points)
        counts = torch.bincount(assigned, minlength=len(centroids))
        # An emptied cluster keeps its centroid rather than dividing by zero.
        centroids = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], centroids)
    return centroids


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
    return lloyd(points, centroids, iters, norms)


@torch.no_grad()
def manifold_clusters(points: torch.Tensor, k: int, fine: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """`fine` small k-means clusters `(fine, D)` of `points`, and which of `k` clusters each belongs to `(fine,)`.

    Pixel k-means cuts MNIST across digits (a 4 and a 9 are close in pixels), but small clusters
    rarely mix digits, and two small clusters that are often some digit's nearest and second
    nearest are neighbours along the digits' manifold. Spectral clustering of that graph (Ng,
    Jordan & Weiss, 2001) joins the small clusters into `k` that follow the manifold: far purer
    than k pixel k-means clusters (bench/clusters.py, docs/quality.md).
    """
    rng = torch.Generator().manual_seed(seed)
    norms = points.square().sum(1, keepdim=True)
    # So many centroids need no careful start: a random sample of the digits (k-means++ would take minutes).
    centroids = lloyd(points, points[torch.randperm(len(points), generator=rng)[:fine]], 10, norms)
    first, second = sq_distances(points, centroids, norms).topk(2, dim=1, largest=False).indices.unbind(1)
    links = torch.zeros(fine, fine).index_put_((first, second), torch.ones(len(points)), accumulate=True)
    links = links + links.T
    scale = links.sum(1).clamp(min=1e-12).rsqrt()  # normalized affinity D^-1/2 W D^-1/2
    _, vectors = torch.linalg.eigh((scale[:, None] * links * scale[None, :]).double())
    embedding = vectors[:, -k:].float()  # the k leading eigenvectors, one row per small cluster
    embedding = embedding / embedding.norm(dim=1, keepdim=True).clamp(min=1e-12)
    return centroids, sq_distances(embedding, kmeans(embedding, k, iters=50, seed=seed)).argmin(dim=1)


def check_clusters_fit(count: int, k: int, labels: torch.Tensor | None = None, num_classes: int | None = None,
                       fine: int | None = None) -> None:
    """A ConfigError when a group that `fit_clusters` would cluster (all `count` training digits, or each digit's
    in `labels`) holds fewer digits than its k clusters (or `fine` centroids)."""
    sizes = [count] if labels is None else torch.bincount(labels, minlength=num_classes).tolist()
    for digit, size in enumerate(sizes):
        if size < (fine or k):
            of = "training digits" if labels is None else f"training images of digit {digit}"
            key = f"model.discriminator.fine_clusters={fine}" if fine else f"model.generator.clusters={k}"
            raise ConfigError(f"{key} is more than the {size} {of}: lower it, or train on more digits (data.subset)")


def fit_clusters(images: torch.Tensor, k: int, labels: torch.Tensor | None = None, num_classes: int | None = None,
                 fine: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clusters of uint8 training digits `(N, 28, 28)`: k of all the digits (C = 1 group), or k of
    each of the `num_classes` digits in `labels` (C groups). Returns centroids `(C, F, 784)` in the
    nets' [-1, 1] range, the cluster of each centroid `(C, F)` and the digits in each cluster `(C, k)`.
    Plain k-means (F = k, each centroid its own cluster), or with `fine` the manifold clusters above
    (F = fine centroids, k clusters of them)."""
    check_clusters_fit(len(images), k, labels, num_classes, fine)
    points = images.flatten(1).float().div_(127.5).sub_(1.0)
    groups = [points] if labels is None else [points[labels == digit] for digit in range(num_classes)]
    if fine:
        centroids, members = map(torch.stack, zip(*(manifold_clusters(group, k, fine) for group in groups)))
    else:
        centroids = torch.stack([kmeans(group, k) for group in groups])
        members = torch.arange(k).repeat(len(groups), 1)
    sizes = torch.stack([torch.bincount(m[nearest(group, c)], minlength=k)
                         for group, c, m in zip(groups, centroids, members)])
    return centroids, members, sizes
