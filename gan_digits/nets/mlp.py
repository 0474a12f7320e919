"""The vanilla GAN: fully connected layers, LeakyReLU hidden units, a tanh output."""

from collections.abc import Sequence

from torch import nn

from gan_digits.checks import check_int
from gan_digits.nets.conditioning import maybe_spectral_norm
from gan_digits.nets.contract import IMAGE_SHAPE, Discriminator, Generator
from gan_digits.nets.init import dcgan_init

PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2]


class MLPGenerator(Generator):
    """z -> hidden layers (BatchNorm after the first, LeakyReLU 0.2) -> 784 pixels -> tanh."""

    def __init__(
        self,
        latent_dim: int = 100,
        hidden: Sequence[int] = (256, 512, 1024),
        num_classes: int | None = None,
        embed_dim: int = 10,
        latent_codes: int | None = None,
        clusters: int | None = None,
    ):
        super().__init__(latent_dim, num_classes, embed_dim, latent_codes, clusters)
        layers, width = [], self.noise.out_features
        for i, out in enumerate(hidden):
            check_int(f"model.generator.hidden[{i}]", out, 1)
            layers.append(nn.Linear(width, out))
            if i > 0:
                layers.append(nn.BatchNorm1d(out))
            layers.append(nn.LeakyReLU(0.2))
            width = out
        self.body = nn.Sequential(*layers, nn.Linear(width, PIXELS), nn.Tanh())
        self.apply(dcgan_init)


class MLPDiscriminator(Discriminator):
    """784 pixels -> hidden layers (LeakyReLU 0.2) -> one logit."""

    def __init__(
        self,
        hidden: Sequence[int] = (512, 256),
        num_classes: int | None = None,
        spectral_norm: bool = False,
        latent_codes: int | None = None,
        clusters: int | None = None,
        fine_clusters: int | None = None,
    ):
        super().__init__(num_classes, spectral_norm, latent_codes, clusters, fine_clusters)
        layers, width = [nn.Flatten()], PIXELS
        for i, out in enumerate(hidden):
            check_int(f"model.discriminator.hidden[{i}]", out, 1)
            layers += [maybe_spectral_norm(nn.Linear(width, out), spectral_norm), nn.LeakyReLU(0.2)]
            width = out
        self.features = nn.Sequential(*layers)
        self.build_head(width)
        self.apply(dcgan_init)
