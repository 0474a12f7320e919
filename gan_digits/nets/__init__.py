"""Generators and discriminators, all keeping the contract in `contract.py`."""

from gan_digits.nets.contract import Discriminator, Generator
from gan_digits.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_digits.nets.dcgan_tf import TFDCGANDiscriminator, TFDCGANGenerator
from gan_digits.nets.mlp import MLPDiscriminator, MLPGenerator

__all__ = ["Discriminator", "Generator", "DCGANDiscriminator", "DCGANGenerator", "MLPDiscriminator", "MLPGenerator",
           "TFDCGANDiscriminator", "TFDCGANGenerator"]
