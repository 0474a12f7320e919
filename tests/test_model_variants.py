"""The `model=` and overrides a refused checkpoint's message names build that checkpoint's networks."""

import shutil

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from conftest import ROOT
from gan_digits.model_variants import NETS, overrides_that_build


def composed_nets(overrides: list[str], conf=ROOT / "conf") -> dict:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        model = OmegaConf.to_container(compose("train", overrides=overrides).model, resolve=True)
    return {net: model[net] for net in NETS}


@pytest.mark.parametrize("trained_with, expected", [
    (["model=cdcgan"], ["model=cdcgan"]),
    (["model=gan", "model.generator.hidden=[32,64]", "model.discriminator.spectral_norm=true"],
     ["model=gan", "model.generator.hidden=[32, 64]", "model.discriminator.spectral_norm=true"]),
    # D's latent_codes follows G's (an interpolation): one override, not two
    (["model=dcgan", "model.generator.latent_codes=10"], ["model=dcgan", "model.generator.latent_codes=10"]),
    # the same classes as dcgan: the variant needing fewest overrides
    (["model=cdcgan", "model.generator.width=8", "model.discriminator.fine_clusters=5"],
     ["model=cdcgan", "model.generator.width=8", "model.discriminator.fine_clusters=5"]),
    (["model=dcgan_tf", "~model.discriminator.fine_clusters"], ["model=dcgan_tf", "~model.discriminator.fine_clusters"]),
])
def test_the_overrides_named_build_the_saved_networks(trained_with, expected):
    saved = composed_nets(trained_with)
    words = overrides_that_build(saved)
    assert words == expected
    assert composed_nets(words) == saved


def test_networks_of_classes_no_variant_has_get_none():
    saved = composed_nets(["model=gan"])
    saved["generator"]["_target_"] = "my_nets.Generator"
    assert overrides_that_build(saved) is None


def test_a_variant_of_the_users_is_read_as_hydra_merges_it_or_passed_over(tmp_path, monkeypatch):
    """A `_self_` in its defaults (a file named `_self_.yaml` was looked for), or a value this reading cannot resolve:
    the refusal's message must still be written."""
    from gan_digits import model_variants

    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf", conf)
    (conf / "model" / "last.yaml").write_text("defaults: [gan, _self_]\ngenerator:\n  hidden: [8]\n")
    (conf / "model" / "first.yaml").write_text("defaults: [_self_, gan]\ngenerator:\n  hidden: [8]\n")  # gan's win
    (conf / "model" / "broken.yaml").write_text("defaults: [gan]\ngenerator:\n  hidden: ${data.nothing}\n")
    monkeypatch.setattr(model_variants, "MODEL_CONF", conf / "model")
    for name in ("last", "first"):
        assert model_variants.overrides_from(name, composed_nets([f"model={name}"], conf)) == [f"model={name}"]
    assert overrides_that_build(composed_nets(["model=last"], conf)) == ["model=last"]
