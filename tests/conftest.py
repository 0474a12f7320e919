"""Shared fixtures: the real config composed and shrunk to tiny CPU runs, and trained tiny checkpoints."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("GAN_DIGITS_DATA", ROOT.parent / "shared" / "data")).resolve()
# A folder that no one may write into, root included: Linux's /proc; macOS's / (its system volume is read-only).
UNWRITABLE = Path("/proc") if Path("/proc").is_dir() else Path("/")
MODELS = ("gan", "dcgan", "cdcgan")

# Small enough for seconds on 2 CPU cores, large enough to exercise BatchNorm and every code path.
TINY_MODEL = {
    "gan": ["model.generator.hidden=[32,64]", "model.discriminator.hidden=[64,32]"],
    "dcgan": ["model.generator.width=8", "model.discriminator.width=8",
              "model.discriminator.fine_clusters=64"],  # of the 128 training digits
    "cdcgan": ["model.generator.width=8", "model.discriminator.width=8"],
    "dcgan_tf": ["model.generator.width=8", "model.discriminator.width=8"],
    "cdcgan_tf": ["model.generator.width=8", "model.discriminator.width=8"],
}
TINY_RUN = [
    f"data.root={DATA}",
    "data.subset=128",  # 4 batches of 32: one epoch is the 8 steps of max_steps
    "data.val_size=64",
    "data.batch_size=32",
    "trainer.max_steps=8",
    "trainer.accelerator=cpu",
    "trainer.precision=32-true",  # not `auto`: a run must not depend on which precision this CPU favours
    "trainer.log_every_n_steps=1",
    "trainer.limit_val_batches=1",
    "trainer.num_sanity_val_steps=0",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "callbacks.sample_grid.every_n_steps=4",
    "callbacks.quality.n=100",
    "callbacks.quality.kid_subset_size=50",
    "callbacks.quality.real_limit=500",
]


def compose_train(model: str = "cdcgan", overrides=(), output_dir: Path | None = None):
    """conf/train.yaml composed as `python train.py` would, shrunk to a tiny CPU run writing to `output_dir`."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            "train", return_hydra_config=True, overrides=[f"model={model}", *TINY_MODEL[model], *TINY_RUN, *overrides]
        )
    if output_dir is not None:
        HydraConfig.instance().set_config(cfg)
        with open_dict(cfg):
            cfg.paths.output_dir = str(output_dir)
    return cfg


def probe_env() -> dict[str, str]:
    """train.py's environment with tests/ importable: `+callbacks.<name>._target_=rank_probe.<Class>` (and what
    PYTHONPATH held already, where the packages may be)."""
    paths = [str(ROOT / "tests"), os.environ.get("PYTHONPATH")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))}


def run_script(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run one of the project's entry points as a user would; never raises on failure."""
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def run_main(main, capsys, *argv: str) -> subprocess.CompletedProcess:
    """A module's `main(argv)` run in this process, as `run_script` runs its command: the exit code and what it
    printed (without the seconds a new process spends importing torch)."""
    capsys.readouterr()
    try:
        main(list(argv))
        code = 0
    except SystemExit as stopped:
        code = stopped.code or 0
    printed = capsys.readouterr()
    return subprocess.CompletedProcess(list(argv), code, printed.out, printed.err)


def imported_modules(stderr: str) -> set[str]:
    """The modules a `python -X importtime ...` run imported, read from what it wrote to stderr."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A finished tiny run per model: {model: run dir}, trained once and shared by the tests that read runs."""
    from gan_digits.training import train

    runs = {}
    for model in MODELS:
        run_dir = tmp_path_factory.mktemp(f"run_{model}")
        train(compose_train(model, output_dir=run_dir))
        runs[model] = run_dir
    return runs


@pytest.fixture(scope="session")
def infogan_ckpt(tmp_path_factory):
    """The last checkpoint of a tiny MLP GAN run with 4 InfoGAN codes (`model.generator.latent_codes`)."""
    from gan_digits.training import train

    run_dir = tmp_path_factory.mktemp("run_infogan")
    train(compose_train("gan", ["model.generator.latent_codes=4"], output_dir=run_dir))
    return run_dir / "checkpoints" / "last.ckpt"
