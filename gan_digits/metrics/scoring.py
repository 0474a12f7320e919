"""Feed a QualityMeter: the real test digits once, then generated ones in batches."""

import torch

from gan_digits.data.pixels import to_uint8
from gan_digits.metrics.quality import QualityMeter
from gan_digits.nets.contract import Generator
from gan_digits.sampling import draw

BATCH = 500


def add_real_test_digits(meter: QualityMeter, images: torch.Tensor, labels: torch.Tensor, rank: int = 0,
                         world_size: int = 1, limit: int | None = None) -> None:
    """The MNIST test split (`load_split(root, "test")`, or its first `limit` digits) as the real side; each
    rank adds its stride."""
    images, labels = images[:limit][rank::world_size], labels[:limit][rank::world_size]
    add_real_features(meter, distance_features(meter, images), labels)


def distance_features(meter: QualityMeter, images: torch.Tensor) -> torch.Tensor:
    """The meter's distance features (`QualityMeter.distance_features`) of uint8 digits `(N, 28, 28)`, a batch at a
    time: what its real side is fed."""
    device = meter.predicted.device
    return torch.cat([meter.distance_features(images[i : i + BATCH].unsqueeze(1).to(device))
                      for i in range(0, len(images), BATCH)])


def add_real_features(meter: QualityMeter, features: torch.Tensor, labels: torch.Tensor) -> None:
    """Real digits by their `distance_features`, in the batches they were computed in."""
    for i in range(0, len(features), BATCH):
        meter.update_real_features(features[i : i + BATCH], labels[i : i + BATCH].to(features.device))


def add_generated_digits(meter: QualityMeter, generator: Generator, n: int, seed: int) -> None:
    """`n` digits of `generator` from seeded noise; a conditional one is asked for 0..9 in turn; one with codes
    (InfoGAN's, or clusters) scored with the code of each noise."""
    device = meter.predicted.device
    noise = torch.Generator().manual_seed(seed)
    for start in range(0, n, BATCH):
        size = min(BATCH, n - start)
        z = torch.randn(size, generator.latent_dim, generator=noise).to(device)
        asked = (torch.arange(start, start + size) % 10).to(device) if generator.num_classes else None
        codes = generator.code(z) if generator.codes else None
        meter.update_fake(to_uint8(draw(generator, z, asked)), asked, codes)
