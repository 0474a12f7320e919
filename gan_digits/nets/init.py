"""Weight initialisation from the DCGAN paper (Radford et al., 2015)."""

from torch import nn
from torch.nn.utils import parametrize


def dcgan_init(module: nn.Module) -> None:
    """Conv and linear weights ~ N(0, 0.02), BatchNorm scales ~ N(1, 0.02), biases 0. Use with `.apply`."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        # Under spectral norm `weight` is computed; the tensor to initialise is the original.
        if parametrize.is_parametrized(module, "weight"):
            weight = module.parametrizations.weight.original
        else:
            weight = module.weight
        nn.init.normal_(weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
