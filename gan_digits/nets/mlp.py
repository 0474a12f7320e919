"""The vanilla GAN: fully connected layers, LeakyReLU hidden units, a tanh output."""

from collections.abc import Sequence

from torch import nn

from gan_digits.checks import check_int
from gan_digits.nets.conditioning import maybe_spectral_norm
from gan_digits.nets.contract import IMAGE_SHAPE, Discriminator, Generator
from gan_digits.nets.init import dcgan_init

PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2]


def layer_widths(key: str, hidden: int | Sequence[int]) -> list[int]:
    """The hidden layers' widths from `hidden`: a list, or one number for one layer (`hidden=512`, as dcgan's D
    head takes it)."""
    if isinstance(hidden, Sequence) and not isinstance(hidden, str):
        return [check_int(f"{key}[{i}]", width, 1) for i, width in enumerate(hidden)]
    return [check_int(key, hidden, 1, why="one layer's width, or a list of widths: [256,512]")]


class MLPGenerator(Generator):
    """z -> hidden layers (BatchNorm after the first, LeakyReLU 0.2) -> 784 pixels -> tanh."""

    def __init__(
        self,
        latent_dim: int = 100,
        hidden: int | Sequence[int] = (256, 512, 1024),
        num_classes: int | None = None,
        embed_dim: int = 10,
        latent_codes: int | None = None,
        clusters: int | None = None,
    ):
        super().__init__(latent_dim, num_classes, embed_dim, latent_codes, clusters)
        layers, width = [], self.noise.out_features
        for i, out in enumerate(layer_widths("model.generator.hidden", hidden)):
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
        hidden: int | Sequence[int] = (512, 256),
        num_classes: int | None = None,
        spectral_norm: bool = False,
        latent_codes: int | None = None,
        clusters: int | None = None,
        fine_clusters: int | None = None,
    ):
        super().__init__(num_classes, spectral_norm, latent_codes, clusters, fine_clusters)
        layers, width = [nn.Flatten()], PIXELS
        for out in layer_widths("model.discriminator.hidden", hidden):
            layers += [maybe_spectral_norm(nn.Linear(width, out), spectral_norm), nn.LeakyReLU(0.2)]
            width = out
        self.features = nn.Sequential(*layers)
        self.build_head(width)
        self.apply(dcgan_init)
