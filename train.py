"""Train a GAN on MNIST: `python train.py [model=gan|dcgan|cdcgan] [key=value ...]` (see README)."""

import hydra
from omegaconf import DictConfig

from gan_digits.checks import report_user_errors
from gan_digits.training import objective, train


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
@report_user_errors
def main(cfg: DictConfig) -> float | None:
    return objective(cfg, train(cfg))  # what a sweeper (Optuna) minimises


if __name__ == "__main__":
    main()
