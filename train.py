"""Train a GAN on MNIST: `python train.py [model=gan|dcgan|cdcgan] [key=value ...]` (see README)."""

import warnings

import hydra
from omegaconf import DictConfig

from gan_digits.checks import report_user_errors
from gan_digits.training import objective, train

# Lightning 2.6 calls a torch API that torch 2.14 deprecates, and says so in every run: upstream,
# harmless, and not the user's to fix (pytest's config silences it too).
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
@report_user_errors
def main(cfg: DictConfig) -> float | None:
    return objective(cfg, train(cfg))  # what a sweeper (Optuna) minimises


if __name__ == "__main__":
    main()
