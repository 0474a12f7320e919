"""Adversarial losses on raw logits. Each says what D minimises and what G minimises."""

import torch
import torch.nn.functional as F


class BCELoss:
    """The classic GAN loss: D learns real -> 1 and fake -> 0; G (non-saturating) makes D say 1 on fakes."""

    def discriminator(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
        fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        return real + fake

    def generator(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


class HingeLoss:
    """The hinge loss of SN-GAN/BigGAN: D pushes real logits above 1 and fake ones below -1."""

    def discriminator(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()

    def generator(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.mean()
