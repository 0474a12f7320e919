"""The DCGAN, lean enough to train on a laptop CPU: 7x7 -> 14x14 -> 28x28 with 4x4 stride-2 convs.

With `num_classes=10` the same classes make the conditional cDCGAN: the generator joins a label
embedding to its noise, the discriminator scores the label with a projection head.
"""

import torch
from torch import nn

from gan_digits.checks import check_choice, check_int
from gan_digits.nets.conditioning import maybe_spectral_norm
from gan_digits.nets.contract import Discriminator, Generator
from gan_digits.nets.conv_grads import BF16GradConv2d, BF16GradConvTranspose2d, FoldGradConv2d
from gan_digits.nets.init import dcgan_init
from gan_digits.nets.minibatch_std import MinibatchStd
from gan_digits.nets.to_image import FoldConvTranspose2d


class DCGANGenerator(Generator):
    """z -> linear -> (2*width)x7x7 -> transposed conv -> width x14x14 -> transposed conv -> 1x28x28, tanh."""

    def __init__(self, latent_dim: int = 100, width: int = 64, num_classes: int | None = None, embed_dim: int = 10,
                 latent_codes: int | None = None, clusters: int | None = None):
        super().__init__(latent_dim, num_classes, embed_dim, latent_codes, clusters)
        width = check_int("model.generator.width", width, 1)
        self.body = nn.Sequential(
            nn.Linear(self.noise.out_features, 2 * width * 7 * 7, bias=False),
            nn.Unflatten(1, (2 * width, 7, 7)),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            BF16GradConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            FoldConvTranspose2d(width, 1, 4, stride=2, padding=1),
            nn.Tanh(),
        )
        self.apply(dcgan_init)


class _ToPlainLayout(torch.autograd.Function):
    """A copy into the default layout whose backward hands the gradient back in the input's layout."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        channels_last = x.is_contiguous(memory_format=torch.channels_last)
        ctx.layout = torch.channels_last if channels_last else torch.contiguous_format
        return x.contiguous()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad.contiguous(memory_format=ctx.layout)


class PlainLayoutFlatten(nn.Flatten):
    """Flattens in the default order, whatever layout D's features ran in.

    On a CPU D's convolutions, BatchNorm and LeakyReLUs run channels_last (`DCGANDiscriminator.score`),
    and its head reads the features in the default order. The copy between them hands the gradient
    back channels_last: an elementwise backward on mixed layouts takes a slow path (the LeakyReLU's
    ~2.5 ms a call on a 2-core CPU, against ~0.2), and BatchNorm's backward on the 7x7 maps is ~2.5x
    as fast channels_last (bf16; docs/speed.md). A no-op in the default layout.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x if x.is_contiguous() else _ToPlainLayout.apply(x))


class DCGANDiscriminator(Discriminator):
    """1x28x28 -> conv -> width x14x14 -> conv -> (2*width)x7x7 (BatchNorm) -> logit; LeakyReLU 0.2.

    Recipe options: `minibatch_std` appends the batch's variety as a 7x7 channel; `hidden` puts a
    fully connected layer of that width before the head (a little more capacity, little cost).
    """

    def __init__(self, width: int = 64, num_classes: int | None = None, spectral_norm: bool = False,
                 latent_codes: int | None = None, clusters: int | None = None, fine_clusters: int | None = None,
                 minibatch_std: bool = False, hidden: int | None = None):
        super().__init__(num_classes, spectral_norm, latent_codes, clusters, fine_clusters)
        minibatch_std = check_choice("model.discriminator.minibatch_std", minibatch_std, (True, False))
        width = check_int("model.discriminator.width", width, 1)
        hidden = None if hidden is None else check_int("model.discriminator.hidden", hidden, 0)  # 0: none
        # Spectral norm already bounds the layer; BatchNorm on top of it fights it, so it goes.
        norm = nn.Identity() if spectral_norm else nn.BatchNorm2d(2 * width)
        channels = 2 * width + (1 if minibatch_std else 0)
        layers = [
            maybe_spectral_norm(FoldGradConv2d(1, width, 4, stride=2, padding=1), spectral_norm),
            nn.LeakyReLU(0.2),
            maybe_spectral_norm(BF16GradConv2d(width, 2 * width, 4, stride=2, padding=1), spectral_norm),
            norm,
            nn.LeakyReLU(0.2),
            *([MinibatchStd()] if minibatch_std else []),
            PlainLayoutFlatten(),
        ]
        if hidden:
            layers += [maybe_spectral_norm(nn.Linear(channels * 7 * 7, hidden), spectral_norm), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.build_head(hidden or channels * 7 * 7)
        self.apply(dcgan_init)

    def score(self, x: torch.Tensor, y: torch.Tensor | None = None,
              cluster: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        # On a CPU, oneDNN runs these convolutions channels_last with its brgemm kernels instead of
        # reordering every activation in and out of a blocked layout: with the head's fix, the bf16
        # dcgan/cdcgan step 1.08x/1.11x as fast (2-core Zen 4, docs/speed.md). A one-channel image is laid
        # out alike either way, so only an explicit copy marks it, and the layers after it follow (up to
        # PlainLayoutFlatten).
        # The weights stay as they are: checkpoints, and GPUs, are untouched.
        if x.device.type == "cpu" and x.dim() == 4:
            x = x.clone(memory_format=torch.channels_last)
        return super().score(x, y, cluster)
