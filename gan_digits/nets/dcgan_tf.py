"""The TensorFlow tutorial's DCGAN, the seed's architecture: heavier, kept to compare against.

7x7x(4*width) -> 5x5 transposed convs (stride 1, 2, 2), LeakyReLU 0.3 (Keras' default) and
BatchNorm in G; D: two 5x5 stride-2 convs with dropout 0.3. About 3x the lean DCGAN's FLOPs per
step. With `num_classes=10` it is the seed's cDCGAN (label embedding joined to the noise), with
this project's projection head in D.
"""

from torch import nn

from gan_digits.checks import check_int
from gan_digits.nets.conditioning import maybe_spectral_norm
from gan_digits.nets.contract import Discriminator, Generator
from gan_digits.nets.conv_grads import BF16GradConv2d, BF16GradConvTranspose2d, FoldGradConv2d
from gan_digits.nets.init import dcgan_init
from gan_digits.nets.to_image import FoldConvTranspose2d


def _up(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    padding = dict(padding=2, output_padding=stride - 1)  # Keras' padding="same"
    return [BF16GradConvTranspose2d(c_in, c_out, 5, stride=stride, bias=False, **padding), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.3)]


class TFDCGANGenerator(Generator):
    """z -> linear -> (4*width)x7x7 -> (2*width)x7x7 -> width x14x14 -> 1x28x28, tanh."""

    def __init__(self, latent_dim: int = 100, width: int = 64, num_classes: int | None = None, embed_dim: int = 10,
                 latent_codes: int | None = None, clusters: int | None = None):
        super().__init__(latent_dim, num_classes, embed_dim, latent_codes, clusters)
        width = check_int("model.generator.width", width, 1)
        self.body = nn.Sequential(
            nn.Linear(self.noise.out_features, 4 * width * 7 * 7, bias=False),
            nn.BatchNorm1d(4 * width * 7 * 7),
            nn.LeakyReLU(0.3),
            nn.Unflatten(1, (4 * width, 7, 7)),
            *_up(4 * width, 2 * width, 1),
            *_up(2 * width, width, 2),
            FoldConvTranspose2d(width, 1, 5, stride=2, padding=2, output_padding=1, bias=False),
            nn.Tanh(),
        )
        self.apply(dcgan_init)


class TFDCGANDiscriminator(Discriminator):
    """1x28x28 -> 5x5 stride-2 conv -> width x14x14 -> (2*width)x7x7 -> logit; LeakyReLU 0.3, dropout 0.3."""

    def __init__(self, width: int = 64, num_classes: int | None = None, spectral_norm: bool = False,
                 latent_codes: int | None = None, clusters: int | None = None, fine_clusters: int | None = None):
        super().__init__(num_classes, spectral_norm, latent_codes, clusters, fine_clusters)
        width = check_int("model.discriminator.width", width, 1)
        self.features = nn.Sequential(
            maybe_spectral_norm(FoldGradConv2d(1, width, 5, stride=2, padding=2), spectral_norm),
            nn.LeakyReLU(0.3),
            nn.Dropout(0.3),
            maybe_spectral_norm(BF16GradConv2d(width, 2 * width, 5, stride=2, padding=2), spectral_norm),
            nn.LeakyReLU(0.3),
            nn.Dropout(0.3),
            nn.Flatten(),
        )
        self.build_head(2 * width * 7 * 7)
        self.apply(dcgan_init)
