"""The one contract every model keeps: `G(z, y=None) -> x` and `D(x, y=None) -> logits`.

Callbacks, metrics and the sampler talk only to these two base classes (and their `latent_dim`
and `num_classes`), never to a model's name. A subclass builds `body` (G) or `features` (D).

`latent_codes=K` (InfoGAN's categorical code, for unconditional nets) keeps the contract: the code
is read off the noise itself, `argmax(z[:, :K])`, uniform over K values for Gaussian z. G draws
from it as a conditional G from its label; D learns to tell the code back from the image
(`score`), which pushes G to give each code its own, distinct family of digits.

`clusters=K` (self-conditioning, `clusters.py`) reads a cluster off the noise too (K per digit for
a conditional net), drawn in proportion to the training digits in each cluster; D scores an image
against its cluster: the one G drew it from, or for a training digit that of its nearest centroid.
"""

import torch
from torch import nn

from gan_digits.checks import ConfigError, as_typed, check_choice, check_int
from gan_digits.nets.clusters import sq_distances
from gan_digits.nets.conditioning import LabelledNoise, ProjectionHead, maybe_spectral_norm

IMAGE_SHAPE = (1, 28, 28)


def check_codes(key: str, latent_codes: int | None, clusters: int | None, num_classes: int | None,
                latent_dim: int | None = None) -> None:
    """InfoGAN codes are for an unconditional net without clusters; codes are read off the noise."""
    if latent_codes is not None:
        check_int(f"{key}.latent_codes", latent_codes, 2, latent_dim)
    if clusters is not None:
        check_int(f"{key}.clusters", clusters, 2)
    if latent_codes is not None and (num_classes is not None or clusters is not None):
        fix = "latent_codes=null" if num_classes is not None else f"{key}.clusters=null (or latent_codes=null)"
        raise ConfigError(f"{key}.latent_codes={latent_codes} with num_classes={as_typed(num_classes)}, "
                          f"clusters={as_typed(clusters)}: "
                          f"InfoGAN's code is for an unconditional model without clusters: set {fix}")


def check_labels(y: torch.Tensor | None, num_classes: int | None, batch: int) -> None:
    """Labels `(B,)` in [0, num_classes) for a conditional net, None for an unconditional one."""
    if num_classes is None:
        if y is not None:
            raise ValueError("this network is unconditional: call it with y=None")
        return
    if y is None:
        raise ValueError(f"this network is conditional: pass y, a (B,) tensor of labels in 0..{num_classes - 1}")
    if y.shape != (batch,):
        raise ValueError(f"labels y must have shape ({batch},), got {tuple(y.shape)}")


class Generator(nn.Module):
    """Noise `(B, latent_dim)` (and labels `(B,)`) -> images `(B, 1, 28, 28)` in [-1, 1]."""

    def __init__(self, latent_dim: int = 100, num_classes: int | None = None, embed_dim: int = 10,
                 latent_codes: int | None = None, clusters: int | None = None):
        super().__init__()
        self.latent_dim = check_int("model.generator.latent_dim", latent_dim, 1)
        self.num_classes = None if num_classes is None else check_int("model.generator.num_classes", num_classes, 2)
        check_codes("model.generator", latent_codes, clusters, num_classes, latent_dim)
        self.latent_codes = latent_codes
        self.clusters = clusters
        if clusters:
            # Per digit (one row for an unconditional G), per cluster i: the share of the digit's
            # training images in clusters 0..i; uniform until `set_cluster_sizes`.
            uniform = torch.arange(1, clusters + 1, dtype=torch.float) / clusters
            self.register_buffer("cluster_cdf", uniform.repeat(num_classes or 1, 1))
        embeddings = (num_classes or 1) * clusters if clusters else num_classes or latent_codes
        self.noise = LabelledNoise(latent_dim, embeddings, embed_dim)
        self.body: nn.Module = nn.Identity()

    def set_cluster_sizes(self, sizes: torch.Tensor) -> None:
        """Draw each cluster as often as it holds training digits (of the digit asked for): an
        empty one never (its slice of [0, 1) is empty)."""
        sizes = sizes.double()  # the last cumulative share is then exactly 1
        self.cluster_cdf.copy_(sizes.cumsum(dim=1) / sizes.sum(dim=1, keepdim=True).clamp(min=1))

    def cluster(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The cluster G draws from (`clusters`), read off the noise: the normal CDF of `z[:, 0]`
        is uniform, and falls in each cluster's slice of [0, 1) as often as the cluster holds
        training digits. Numbered digit * clusters + index."""
        group = torch.zeros(len(z), dtype=torch.long, device=z.device) if y is None else y
        u = torch.special.ndtr(z[:, :1].float())
        index = (self.cluster_cdf[group] < u).sum(dim=1).clamp_(max=self.clusters - 1)  # u rounds to 1 for z > 5.4
        return group * self.clusters + index

    @property
    def codes(self) -> int | None:
        """How many codes it can be asked for, each a choice G reads off its noise: InfoGAN's (`latent_codes`) or,
        for an unconditional model, the cluster of training digits it draws from (`clusters`); None for neither (a
        conditional model is asked for digits)."""
        return self.latent_codes or (self.clusters if self.num_classes is None else None)

    def drawn_codes(self) -> list[int]:
        """The codes G ever draws: every InfoGAN code; the clusters that hold training digits (a slice of their own)."""
        if self.latent_codes:
            return list(range(self.latent_codes))
        return (self._cluster_ends().diff() > 0).nonzero()[:, 0].tolist()

    def _cluster_ends(self) -> torch.Tensor:
        """An unconditional model's clusters' slices of [0, 1], cluster k's from ends[k] to ends[k + 1] (as `cluster`
        reads them), in float64."""
        return torch.cat([self.cluster_cdf.new_zeros(1), self.cluster_cdf[0]]).double()

    def code(self, z: torch.Tensor) -> torch.Tensor:
        """The code G reads off each noise (`codes`): InfoGAN's, the largest of its first `latent_codes` values
        (uniform for Gaussian z), or an unconditional model's cluster."""
        return z[:, : self.latent_codes].argmax(dim=1) if self.latent_codes else self.cluster(z)

    def with_code(self, z: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """`z` changed where it holds its code (`codes`), so that it draws `code`: the same noise otherwise. An
        InfoGAN code by swapping two of its values; a cluster by moving `z[:, 0]` into the cluster's slice of the
        normal CDF, at the same place within it (kept off the slice's ends, where rounding could cross them)."""
        z = z.clone()
        if self.latent_codes:
            rows, top = torch.arange(len(z)), self.code(z)
            z[rows, top], z[rows, code] = z[rows, code], z[rows, top]
            return z
        ends = self._cluster_ends()
        low, high = ends[code], ends[code + 1]
        u = torch.special.ndtr(z[:, 0].double()).clamp(0.01, 0.99)
        z[:, 0] = torch.special.ndtri(low + (high - low) * u).to(z.dtype)
        return z

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"noise z must have shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        check_labels(y, self.num_classes, z.shape[0])
        if self.clusters:
            y = self.cluster(z, y)
        elif self.latent_codes:
            y = self.code(z)
        return self.body(self.noise(z, y)).view(-1, *IMAGE_SHAPE)


class Discriminator(nn.Module):
    """Images `(B, 1, 28, 28)` (and labels `(B,)`) -> logits `(B, 1)`: real > 0 > fake."""

    def __init__(self, num_classes: int | None = None, spectral_norm: bool = False, latent_codes: int | None = None,
                 clusters: int | None = None, fine_clusters: int | None = None):
        super().__init__()
        self.num_classes = None if num_classes is None else check_int("model.discriminator.num_classes", num_classes, 2)
        check_codes("model.discriminator", latent_codes, clusters, num_classes)
        self.spectral_norm = check_choice("model.discriminator.spectral_norm", spectral_norm, (True, False))
        self.latent_codes = latent_codes
        self.clusters = clusters
        # With clusters: make each a union of small k-means clusters, this many in all (clusters.py).
        self.fine_clusters = fine_clusters
        if clusters:
            if fine_clusters is not None:
                check_int("model.discriminator.fine_clusters", fine_clusters, clusters + 1)
            # Pixel centroids (in [-1, 1]) of each digit's (small) clusters, one row for an unconditional
            # D, and the cluster each belongs to; set before training by `set_clusters`.
            groups, centroids = num_classes or 1, self.fine_clusters or clusters
            self.register_buffer("centroids", torch.zeros(groups, centroids, IMAGE_SHAPE[1] * IMAGE_SHAPE[2]))
            self.register_buffer("members", torch.arange(centroids).remainder(clusters).repeat(groups, 1))
        self.features: nn.Module = nn.Identity()
        self.head: nn.Module = nn.Identity()
        self.code_head: nn.Module | None = None

    def build_head(self, in_features: int) -> None:
        """Called by a subclass once `features` is built and its width is known."""
        classes = (self.num_classes or 1) * self.clusters if self.clusters else self.num_classes
        self.head = ProjectionHead(in_features, classes, self.spectral_norm)
        if self.latent_codes:
            self.code_head = maybe_spectral_norm(nn.Linear(in_features, self.latent_codes), self.spectral_norm)

    def set_clusters(self, centroids: torch.Tensor, members: torch.Tensor) -> None:
        """`fit_clusters`' centroids `(C, F, 784)` and the cluster of each `(C, F)`."""
        self.centroids.copy_(centroids)
        self.members.copy_(members)

    def cluster_of(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The cluster (among its digit's) of each image's nearest centroid, numbered as `Generator.cluster` numbers them."""
        groups, centroids = self.centroids.shape[:2]
        distances = sq_distances(x.flatten(1).float(), self.centroids.flatten(0, 1)).view(len(x), groups, centroids)
        group = torch.zeros(len(x), dtype=torch.long, device=x.device) if y is None else y
        nearest = distances[torch.arange(len(x), device=x.device), group].argmin(dim=1)
        return group * self.clusters + self.members[group, nearest]

    def score(self, x: torch.Tensor, y: torch.Tensor | None = None,
              cluster: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits, and (with `latent_codes`) the logits of which code drew `x`, from one pass.

        With `clusters`, `x` is scored against `cluster` (the one G drew it from) or, if None, the
        nearest: a training digit's."""
        check_labels(y, self.num_classes, x.shape[0])
        h = self.features(x)
        if self.clusters:
            y = self.cluster_of(x, y) if cluster is None else cluster
        return self.head(h, y), None if self.code_head is None else self.code_head(h)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.score(x, y)[0]
