"""Adversarial losses on raw logits. Each says what D minimises and what G minimises."""

import torch
import torch.nn.functional as F

from gan_digits.checks import ConfigError, check_number


class BCELoss:
    """The classic GAN loss: D learns real -> 1 and fake -> 0; G (non-saturating) makes D say 1 on fakes.

    `real_label` < 1 is one-sided label smoothing (Salimans et al. 2016, e.g. 0.9): D aims lower on
    real digits, so it is never rewarded for being over-sure of them.
    """

    def __init__(self, real_label: float = 1.0):
        self.real_label = check_number("model.loss.real_label", real_label, lambda v: 0.5 < v <= 1,
                                       "a number in (0.5, 1]")

    def discriminator(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, self.real_label))
        fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        return real + fake

    def generator(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


class HingeLoss:
    """The hinge loss of SN-GAN/BigGAN: D pushes real logits above 1 and fake ones below -1. In float32 under
    bf16 autocast, as torch's own losses are."""

    def discriminator(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.relu(1.0 - real_logits.float()).mean() + F.relu(1.0 + fake_logits.float()).mean()

    def generator(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.float().mean()


class LeastSquaresLoss:
    """LSGAN's loss (Mao et al. 2017): D's output regressed to 1 on real digits and 0 on fakes; G pulls it to 1
    on fakes. Its gradient grows with the distance to the target, where BCE's fades for fakes D is sure of.
    In float32 under bf16 autocast, as torch's own losses are."""

    def discriminator(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((real_logits.float() - 1.0).square().mean() + fake_logits.float().square().mean())

    def generator(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return 0.5 * (fake_logits.float() - 1.0).square().mean()


def check_loss(loss: object) -> object:
    """`loss` if it has the two methods the step calls (as the classes above do), or a ConfigError naming
    `model.loss`: a torch loss such as MSELoss failed only at the first batch."""
    if all(callable(getattr(loss, name, None)) for name in ("discriminator", "generator")):
        return loss
    kind = type(loss)
    raise ConfigError(f"model.loss._target_={kind.__module__}.{kind.__qualname__} is not allowed: expected "
                      "gan_digits.losses.BCELoss, HingeLoss, LeastSquaresLoss or another class with methods "
                      "discriminator(real_logits, fake_logits) and generator(fake_logits), each returning a loss")


def _halves(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The pairs the mode-seeking term compares: the batch's first half against its second."""
    half = batch.shape[0] // 2
    return batch[:half], batch[half:2 * half]


def mode_seeking_pairs(labels: torch.Tensor) -> torch.Tensor:
    """`labels` with the second half repeating the first, so that each pair asks for one digit."""
    first, second = _halves(labels)
    return torch.cat([first, first, labels[first.shape[0] + second.shape[0]:]])


def mode_seeking_loss(fake: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """MSGAN's mode-seeking term (Mao et al. 2019), for G to minimise: pairs of fakes should differ
    as much as their noise does, so G cannot answer many noises (with the same label) with one
    image. Small while the images differ, large when they collapse."""
    (fake_a, fake_b), (z_a, z_b) = _halves(fake.float()), _halves(z)
    return 1.0 / ((fake_a - fake_b).abs().mean() / (z_a - z_b).abs().mean() + 1e-5)
