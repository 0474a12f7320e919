"""Turn a checkpoint into digits: `python sample.py ckpt=<path> [mode=grid|digits|interpolate|arithmetic|compare|npz]`.

See conf/sample.yaml for every option and README.md for examples.
"""

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from gan_digits.checks import report_user_errors
from gan_digits.command_line import check_added_keys, check_filled, check_known_keys, check_overrides


@hydra.main(version_base="1.3", config_path="conf", config_name="sample")
@report_user_errors
def main(cfg: DictConfig) -> None:
    check_filled(cfg, "e.g. python sample.py ckpt=outputs/<date>/<time>/checkpoints/last.ckpt")
    overrides = HydraConfig.get().overrides.task
    check_added_keys(cfg, overrides)
    from gan_digits.modes import check_settings_read, sample  # after composing: a mistyped key fails in a second

    params = OmegaConf.to_container(cfg, resolve=True)
    check_settings_read(params, overrides)
    print(sample(**params))


if __name__ == "__main__":
    report_user_errors(check_overrides)(sys.argv[1:])
    report_user_errors(check_known_keys)(sys.argv[1:], Path(__file__).parent / "conf", "sample")
    main()
