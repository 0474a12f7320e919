"""The README's commands against the code, so that a renamed key, value or module cannot leave it stale.

Every `python train.py` example composes and builds its model (training is what the other tests do),
every `python sample.py` example draws from a tiny checkpoint, every `python -m` module exists,
each example of bad input prints the line shown, and the Python example runs.
"""

import importlib.util
import re
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf, open_dict

from conftest import DATA, ROOT, TINY_MODEL, TINY_RUN
from gan_digits.checks import instantiate
from gan_digits.modes import check_settings_read, sample

CODE_BLOCKS = re.findall(r"```(?:bash)?\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
CHECKPOINT_PLACEHOLDERS = ("outputs/<date>/<time>/checkpoints/last.ckpt", "<cdcgan ckpt>", "<ckpt>")
INFOGAN_PLACEHOLDER = "<ckpt with InfoGAN codes>"
DCGAN_PLACEHOLDER = "<dcgan ckpt>"  # a self-conditioned model: its clusters are its codes


def commands(program: str) -> list[str]:
    """The README's command lines that start with `program`: the rest of each line."""
    lines = (line for block in CODE_BLOCKS for line in block.splitlines())
    return [line[len(program) + 1:] for line in lines if line.startswith(program + " ")]


def arguments(command: str) -> list[str]:
    """A command's arguments as the shell passes them, comments dropped."""
    return shlex.split(command, comments=True)


def composed(config_name: str, overrides: list[str], with_hydra: bool = False):
    """conf/<config_name>.yaml as the command composes it (`with_hydra` for overrides of hydra.*)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name, overrides=overrides, return_hydra_config=with_hydra)


def sampled(args: list[str]) -> Path:
    """What `python sample.py <args>` does: compose, check the settings typed against the mode, draw."""
    settings = OmegaConf.to_container(composed("sample", args), resolve=True)
    check_settings_read(settings, args)
    return sample(**settings)


def one_job(args: list[str]) -> list[str]:
    """A `-m` sweep's first job: each swept `key=a,b` as `key=a`."""
    if "-m" not in args:
        return args
    return [arg.split(",")[0] for arg in args if arg != "-m"]


def test_the_readme_has_examples_of_each_command():
    """Guards the parsing below: a README whose examples it no longer finds would pass every test."""
    assert len(commands("python train.py")) >= 15 and len(commands("python sample.py")) >= 8
    assert len(commands("python -m")) >= 8
    assert len(ERROR_EXAMPLES) >= 4


@pytest.mark.parametrize("command", commands("python train.py"))
def test_train_examples_compose_and_build_their_model(command):
    cfg = composed("train", one_job(arguments(command)), with_hydra=True)
    module = instantiate(cfg.model)  # the model's own checks: values as well as keys
    assert module.latent_dim == cfg.model.generator.latent_dim


@pytest.mark.parametrize("command", commands("python sample.py"))
def test_sample_examples_draw_from_a_checkpoint(command, trained, infogan_ckpt, tmp_path, monkeypatch):
    command = command.replace(INFOGAN_PLACEHOLDER, str(infogan_ckpt))
    command = command.replace(DCGAN_PLACEHOLDER, str(trained["dcgan"] / "checkpoints" / "last.ckpt"))
    for placeholder in CHECKPOINT_PLACEHOLDERS:
        command = command.replace(placeholder, str(trained["cdcgan"] / "checkpoints" / "last.ckpt"))
    args = arguments(command.replace("../shared/data", str(DATA)))
    monkeypatch.chdir(tmp_path)  # where the examples' outputs land
    out = sampled(args)
    assert Path(out).parent == Path(".") and (tmp_path / out).stat().st_size > 0


# The README's examples of bad input: `$ python <script> <arguments>`, then the `error: ...` line it prints.
ERROR_EXAMPLES = re.findall(r"^\$ python (\w+)\.py (.*)\nerror: (.*)$", (ROOT / "README.md").read_text(), flags=re.M)


@pytest.mark.parametrize("script,command,message", ERROR_EXAMPLES)
def test_bad_input_examples_print_what_the_readme_shows(script, command, message, trained, tmp_path, monkeypatch):
    """Each example's config as the command composes it, built (train.py) or sampled: the line the README shows."""
    from gan_digits.checks import ConfigError
    from gan_digits.training import build

    args = arguments(command)
    with pytest.raises(ConfigError) as caught:
        if script == "train":  # built, never fitted: an example that no longer fails must not train for minutes
            cfg = composed("train", [*args, f"data.root={DATA}"])
            with open_dict(cfg):
                cfg.paths.output_dir = str(tmp_path / "run")
            build(cfg)
        else:
            ckpt = str(trained["cdcgan"] / "checkpoints" / "last.ckpt")
            args = [f"ckpt={ckpt}" if arg.startswith("ckpt=") else arg for arg in args]
            monkeypatch.chdir(tmp_path)
            sampled(args)
    assert str(caught.value) == message


@pytest.mark.parametrize("command", commands("python -m"))
def test_module_commands_exist(command):
    module = arguments(command)[0]
    assert importlib.util.find_spec(module) is not None, module


def test_python_training_example_trains(tmp_path, monkeypatch):
    """The README's second Python example, run as printed from the project root, shrunk to a tiny run."""
    example = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)[1]
    assert '"data.root=../shared/data"' in example and "runs/notebook" in example
    example = example.replace('"data.root=../shared/data"', "*TINY").replace("runs/notebook", str(tmp_path / "nb"))
    monkeypatch.chdir(ROOT)
    GlobalHydra.instance().clear()
    scope = {"TINY": [*TINY_MODEL["gan"], *TINY_RUN]}
    exec(example, scope)
    assert scope["metrics"]["val/fid"] > 0 and (tmp_path / "nb" / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.parametrize("model", ["gan", "cdcgan"])
def test_python_example_draws_digits(trained, model):
    """The README's Python example, run as printed on a checkpoint of each kind (unconditional, conditional)."""
    example = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)[0]
    placeholder = CHECKPOINT_PLACEHOLDERS[0]
    assert placeholder in example
    scope = {}
    exec(example.replace(placeholder, str(trained[model] / "checkpoints" / "last.ckpt")), scope)
    images = scope["images"]
    assert images.shape == (10, 1, 28, 28) and images.min() >= -1 and images.max() <= 1
    if model == "cdcgan":
        assert scope["y"].tolist() == list(range(10))
    else:
        assert scope["y"] is None


@pytest.mark.parametrize("conditional", [False, True])
def test_your_own_networks_train_and_sample(tmp_path, monkeypatch, conditional):
    """The README's own-networks example as printed: its module as gan_digits.nets.tiny, its config in a folder
    of its own (Hydra's search path, as --config-dir adds it), trained for a tiny run, then sampled."""
    from gan_digits.training import train

    section = (ROOT / "README.md").read_text().split("## Your own networks")[1].split("\n## ")[0]
    code, = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    config, = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
    (tmp_path / "tiny.py").write_text(code)
    spec = importlib.util.spec_from_file_location("gan_digits.nets.tiny", tmp_path / "tiny.py")
    monkeypatch.setitem(sys.modules, spec.name, importlib.util.module_from_spec(spec))
    spec.loader.exec_module(sys.modules[spec.name])
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "tiny.yaml").write_text(config)
    digits = ["model.generator.num_classes=10"] if conditional else []
    cfg = composed("train", ["model=tiny", f"hydra.searchpath=[file://{tmp_path / 'conf'}]", *digits, *TINY_RUN,
                             "model.generator.hidden=32", "model.discriminator.hidden=32"], with_hydra=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
    assert train(cfg)["val/fid"] > 0
    monkeypatch.chdir(tmp_path)
    args = [f"ckpt={tmp_path / 'run' / 'checkpoints' / 'last.ckpt'}", "out=tiny.npz", "n=20"]
    out = sampled(args)
    drawn = np.load(tmp_path / out)
    assert drawn["images"].shape == (20, 28, 28) and drawn["images"].dtype == np.uint8
    assert drawn["labels"].tolist() == (list(range(10)) * 2 if conditional else [-1] * 20)
