"""Adversarial losses on raw logits. Each says what D minimises and what G minimises."""

import torch
import torch.nn.functional as F

from gan_digits.checks import ConfigError


class BCELoss:
    """The classic GAN loss: D learns real -> 1 and fake -> 0; G (non-saturating) makes D say 1 on fakes.

    `real_label` < 1 is one-sided label smoothing (Salimans et al. 2016, e.g. 0.9): D aims lower on
    real digits, so it is never rewarded for being over-sure of them.
    """

    def __init__(self, real_label: float = 1.0):
        if not 0.5 < real_label <= 1.0:
            raise ConfigError(f"model.loss.real_label={real_label!r} is not allowed: expected a number in (0.5, 1]")
        self.real_label = real_label

    def discriminator(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, self.real_label))
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


def mode_seeking_loss(fake: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """MSGAN's mode-seeking term (Mao et al. 2019), for G to minimise: pairs of fakes (the first half of
    the batch against the second) should differ as much as their noise does, so G cannot answer many
    noises (with the same label) with one image. Small while the images differ, large when they collapse."""
    half = fake.shape[0] // 2
    image_distance = (fake[:half].float() - fake[half:2 * half].float()).abs().mean()
    noise_distance = (z[:half] - z[half:2 * half]).abs().mean()
    return 1.0 / (image_distance / noise_distance + 1e-5)
