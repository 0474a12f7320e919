"""The pieces that make any generator or discriminator conditional on a digit label.

A generator sees its label as a learned embedding joined to the noise; a discriminator scores it
with a projection head (Miyato & Koyama, 2018): logit = w·h + embed(y)·h. The projection makes the
label part of the score itself, which keeps a conditional D from ignoring the label.
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def maybe_spectral_norm(layer: nn.Module, enabled: bool) -> nn.Module:
    """Wrap `layer` in spectral normalisation when `enabled` (a discriminator recipe option)."""
    return spectral_norm(layer) if enabled else layer


class LabelledNoise(nn.Module):
    """z, or z joined with an embedding of y: the generator's input."""

    def __init__(self, latent_dim: int, num_classes: int | None, embed_dim: int = 10):
        super().__init__()
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        self.out_features = latent_dim + (embed_dim if num_classes else 0)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return z if self.embed is None else torch.cat([z, self.embed(y)], dim=1)


class ProjectionHead(nn.Module):
    """Features `(B, F)` -> logits `(B, 1)`; with classes, plus the projection of the label's embedding."""

    def __init__(self, in_features: int, num_classes: int | None, spectral: bool = False):
        super().__init__()
        self.linear = maybe_spectral_norm(nn.Linear(in_features, 1), spectral)
        self.embed = None
        if num_classes:
            embed = nn.Embedding(num_classes, in_features)
            # Embedding's default N(0, 1) over thousands of features would swamp the logit at the start.
            nn.init.normal_(embed.weight, 0.0, 0.02)
            self.embed = maybe_spectral_norm(embed, spectral)

    def forward(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if self.embed is None:
            return self.linear(h)
        # w·h and every class's embed·h as one matrix product, then the label's column: under bf16
        # autocast `embed(y) * h` multiplied bf16 features by fp32 rows, a slow mixed-type path
        # (the product runs in bf16 like the rest; the dcgan/cdcgan bf16 step ~5% faster, docs/speed.md).
        scores = F.linear(h, torch.cat([self.linear.weight, self.embed.weight]))
        return scores[:, :1] + self.linear.bias + scores[:, 1:].gather(1, y[:, None])
