"""Train a GAN on MNIST: `python train.py [model=gan|dcgan|cdcgan] [key=value ...]` (see README)."""

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from gan_digits.checks import report_user_errors
from gan_digits.command_line import (BASE_OPTIONS, check_added_keys, check_filled, check_known_keys, check_overrides,
                                     check_plugins)
from gan_digits.run_dir import dropped_on_error

CONF = Path(__file__).parent / "conf"
# Each config group's options (model's base is no model to choose), and the groups a run may leave out.
GROUPS = {
    group.name: sorted(p.stem for p in group.glob("*.yaml") if p.stem != BASE_OPTIONS.get(group.name))
    for group in sorted(CONF.iterdir())
    if group.is_dir() and group.name != "hydra"
}
MODELS = GROUPS["model"]
OPTIONAL_GROUPS = ("callbacks", "logger", "experiment", "hparams_search", "launcher")


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
@report_user_errors
@dropped_on_error
def main(cfg: DictConfig) -> float | None:
    base = HydraConfig.get().runtime.choices.get("model") == "default"  # Hydra lists it among the models
    check_filled(cfg, f"model=default is the base the models inherit: choose one of {', '.join(MODELS)}" if base else "")
    check_added_keys(cfg, HydraConfig.get().overrides.task, GROUPS)
    # Imported once Hydra has composed the config: a mistyped key or model fails in a second, not
    # after importing torch and Lightning (4-10 s on a 2-core CPU). conf/hydra/job_logging/lightning.yaml
    # keeps Lightning's log as it prints it when imported first.
    from gan_digits.training import objective, train

    logging.captureWarnings(True)  # into the run's train.log too (conf/hydra/job_logging/lightning.yaml)
    return objective(cfg, train(cfg))  # what a sweeper (Optuna) minimises


if __name__ == "__main__":
    report_user_errors(check_overrides)(sys.argv[1:], GROUPS, OPTIONAL_GROUPS)
    report_user_errors(check_plugins)(sys.argv[1:], CONF)
    report_user_errors(check_known_keys)(sys.argv[1:], CONF, "train")
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C during start-up (imports, data, auto's timing): callbacks.stop_on_signal's
        print("interrupted", file=sys.stderr)  # handler takes over once training starts
        sys.exit(128 + 2)  # as a shell reports SIGINT, and as a Ctrl-C during training exits
