"""The logic behind `train.py`: build everything from the composed config, then fit."""

import lightning as L
from hydra.utils import instantiate, to_absolute_path
from omegaconf import DictConfig, OmegaConf

from gan_digits.module import GANModule


def build(cfg: DictConfig) -> tuple[L.LightningDataModule, GANModule, L.Trainer]:
    """Datamodule, module and trainer from `cfg`; bad data files fail here, before any training."""
    # Relative paths mean the folder the command was started in, not Hydra's run dir.
    datamodule = instantiate(cfg.data, root=to_absolute_path(cfg.data.root))
    if not datamodule.needs_download():
        datamodule.setup("fit")
    module = instantiate(cfg.model)
    module.model_config = OmegaConf.to_container(cfg.model, resolve=True)
    callbacks = [instantiate(c) for c in cfg.get("callbacks", {}).values()]
    loggers = [instantiate(c) for c in cfg.get("logger", {}).values()]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    return datamodule, module, trainer


def train(cfg: DictConfig) -> dict[str, float]:
    """Seed, build and fit; returns the last logged metrics (what a sweeper would minimise)."""
    L.seed_everything(cfg.seed, workers=True)
    datamodule, module, trainer = build(cfg)
    trainer.fit(module, datamodule=datamodule)
    return {name: float(value) for name, value in trainer.callback_metrics.items()}
