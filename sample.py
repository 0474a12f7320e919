"""Turn a checkpoint into digits: `python sample.py ckpt=<path> [n=64] [seed=0] [out=digits.png|.npz] [digits=[3,7]]`."""

import hydra
from omegaconf import DictConfig, OmegaConf

from gan_digits.checks import report_user_errors
from gan_digits.sampling import sample


@hydra.main(version_base="1.3", config_path="conf", config_name="sample")
@report_user_errors
def main(cfg: DictConfig) -> None:
    digits = OmegaConf.to_container(cfg.digits) if cfg.digits is not None else None
    print(sample(cfg.ckpt, cfg.out, n=cfg.n, seed=cfg.seed, digits=digits))


if __name__ == "__main__":
    main()
