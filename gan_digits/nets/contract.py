"""The one contract every model keeps: `G(z, y=None) -> x` and `D(x, y=None) -> logits`.

Callbacks, metrics and the sampler talk only to these two base classes (and their `latent_dim`
and `num_classes`), never to a model's name. A subclass builds `body` (G) or `features` (D).
"""

import torch
from torch import nn

from gan_digits.checks import check_int
from gan_digits.nets.conditioning import LabelledNoise, ProjectionHead

IMAGE_SHAPE = (1, 28, 28)


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

    def __init__(self, latent_dim: int = 100, num_classes: int | None = None, embed_dim: int = 10):
        super().__init__()
        self.latent_dim = check_int("model.generator.latent_dim", latent_dim, 1)
        self.num_classes = None if num_classes is None else check_int("model.generator.num_classes", num_classes, 2)
        self.noise = LabelledNoise(latent_dim, num_classes, embed_dim)
        self.body: nn.Module = nn.Identity()

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"noise z must have shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        check_labels(y, self.num_classes, z.shape[0])
        return self.body(self.noise(z, y)).view(-1, *IMAGE_SHAPE)


class Discriminator(nn.Module):
    """Images `(B, 1, 28, 28)` (and labels `(B,)`) -> logits `(B, 1)`: real > 0 > fake."""

    def __init__(self, num_classes: int | None = None, spectral_norm: bool = False):
        super().__init__()
        self.num_classes = num_classes
        self.spectral_norm = spectral_norm
        self.features: nn.Module = nn.Identity()
        self.head: nn.Module = nn.Identity()

    def build_head(self, in_features: int) -> None:
        """Called by a subclass once `features` is built and its width is known."""
        self.head = ProjectionHead(in_features, self.num_classes, self.spectral_norm)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(y, self.num_classes, x.shape[0])
        return self.head(self.features(x), y)

