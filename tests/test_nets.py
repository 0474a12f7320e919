"""Every model, composed from the real config, keeps the contract G(z, y=None) and D(x, y=None)."""

import pytest
import torch
from hydra.utils import instantiate

from conftest import MODELS, compose_train
from gan_digits.module import GANModule


@pytest.fixture(params=MODELS)
def module(request) -> GANModule:
    return instantiate(compose_train(request.param).model)


def test_config_composes_with_defaults_for_every_model(module):
    assert module.latent_dim == 100
    assert module.conditional == (module.generator.num_classes == 10)


def test_generator_and_discriminator_keep_the_contract(module):
    y = torch.arange(6) % 10 if module.conditional else None
    images = module.generator(torch.randn(6, 100), y)
    assert images.shape == (6, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1
    assert module.discriminator(images, y).shape == (6, 1)


def test_labels_are_required_exactly_when_conditional(module):
    z, x = torch.randn(2, 100), torch.zeros(2, 1, 28, 28)
    if module.conditional:
        with pytest.raises(ValueError, match="conditional: pass y"):
            module.generator(z)
        with pytest.raises(ValueError, match="conditional: pass y"):
            module.discriminator(x)
    else:
        with pytest.raises(ValueError, match="unconditional: call it with y=None"):
            module.generator(z, torch.zeros(2, dtype=torch.long))


def test_wrong_noise_size_is_named():
    module = instantiate(compose_train("dcgan").model)
    with pytest.raises(ValueError, match=r"noise z must have shape \(B, 100\), got \(2, 64\)"):
        module.generator(torch.randn(2, 64))


def test_dcgan_initialisation():
    module = instantiate(compose_train("dcgan", ["model.generator.width=64", "model.discriminator.width=64"]).model)
    conv = module.discriminator.features[2]
    bn = module.generator.body[2]
    assert abs(conv.weight.std().item() - 0.02) < 0.002 and conv.bias.abs().max() == 0
    assert abs(bn.weight.mean().item() - 1.0) < 0.01 and abs(bn.weight.std().item() - 0.02) < 0.01


def test_spectral_norm_discriminator_bounds_its_layers():
    module = instantiate(compose_train("cdcgan", ["model.discriminator.spectral_norm=true"]).model)
    conv = module.discriminator.features[0]
    original = conv.parametrizations.weight.original
    assert torch.linalg.matrix_norm(original.detach().flatten(1), ord=2) < 0.5  # DCGAN init: small
    for _ in range(500):  # one power iteration per training-mode call
        conv(torch.zeros(1, 1, 28, 28))
    sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2).item()
    assert sigma == pytest.approx(1.0, abs=0.05)
