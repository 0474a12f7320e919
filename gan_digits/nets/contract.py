"""The one contract every model keeps: `G(z, y=None) -> x` and `D(x, y=None) -> logits`.

Callbacks, metrics and the sampler talk only to these two base classes (and their `latent_dim`
and `num_classes`), never to a model's name. A subclass builds `body` (G) or `features` (D).

`latent_codes=K` (InfoGAN's categorical code, for unconditional nets) keeps the contract: the code
is read off the noise itself, `argmax(z[:, :K])`, uniform over K values for Gaussian z. G draws
from it as a conditional G from its label; D learns to tell the code back from the image
(`score`), which pushes G to give each code its own, distinct family of digits.
"""

import torch
from torch import nn

from gan_digits.checks import ConfigError, check_int
from gan_digits.nets.conditioning import LabelledNoise, ProjectionHead, maybe_spectral_norm

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

    def __init__(self, latent_dim: int = 100, num_classes: int | None = None, embed_dim: int = 10,
                 latent_codes: int | None = None):
        super().__init__()
        self.latent_dim = check_int("model.generator.latent_dim", latent_dim, 1)
        self.num_classes = None if num_classes is None else check_int("model.generator.num_classes", num_classes, 2)
        self.latent_codes = None if latent_codes is None else check_int("model.generator.latent_codes", latent_codes, 2, latent_dim)
        if num_classes and latent_codes:
            raise ConfigError("model.generator.latent_codes is for unconditional models: a conditional one has its labels")
        self.noise = LabelledNoise(latent_dim, num_classes or latent_codes, embed_dim)
        self.body: nn.Module = nn.Identity()

    def code(self, z: torch.Tensor) -> torch.Tensor:
        """The categorical code hidden in the noise (`latent_codes` only): uniform for Gaussian z."""
        return z[:, : self.latent_codes].argmax(dim=1)

    def with_code(self, z: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """`z` with two of its values swapped so that its code is `code`: the same noise otherwise."""
        z, rows = z.clone(), torch.arange(len(z))
        top = self.code(z)
        z[rows, top], z[rows, code] = z[rows, code], z[rows, top]
        return z

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"noise z must have shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        check_labels(y, self.num_classes, z.shape[0])
        if self.latent_codes:
            y = self.code(z)
        return self.body(self.noise(z, y)).view(-1, *IMAGE_SHAPE)


class Discriminator(nn.Module):
    """Images `(B, 1, 28, 28)` (and labels `(B,)`) -> logits `(B, 1)`: real > 0 > fake."""

    def __init__(self, num_classes: int | None = None, spectral_norm: bool = False, latent_codes: int | None = None):
        super().__init__()
        self.num_classes = num_classes
        self.spectral_norm = spectral_norm
        self.latent_codes = latent_codes
        self.features: nn.Module = nn.Identity()
        self.head: nn.Module = nn.Identity()
        self.code_head: nn.Module | None = None

    def build_head(self, in_features: int) -> None:
        """Called by a subclass once `features` is built and its width is known."""
        self.head = ProjectionHead(in_features, self.num_classes, self.spectral_norm)
        if self.latent_codes:
            self.code_head = maybe_spectral_norm(nn.Linear(in_features, self.latent_codes), self.spectral_norm)

    def score(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits, and (with `latent_codes`) the logits of which code drew `x`, from one pass."""
        check_labels(y, self.num_classes, x.shape[0])
        h = self.features(x)
        return self.head(h, y), None if self.code_head is None else self.code_head(h)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.score(x, y)[0]

