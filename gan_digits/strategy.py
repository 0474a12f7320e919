"""Which Lightning strategy a run gets: the one place that knows a GAN step and DDP need care."""

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.accelerators import CPUAccelerator, CUDAAccelerator
from lightning.pytorch.strategies import DDPStrategy
from omegaconf import DictConfig, OmegaConf


def accelerator_kind(trainer_cfg: DictConfig) -> str:
    """`trainer.accelerator` with `auto` resolved as this project uses it: `gpu` where CUDA is, else `cpu`."""
    if trainer_cfg.accelerator == "auto":
        return "gpu" if CUDAAccelerator.is_available() else "cpu"
    return trainer_cfg.accelerator


def device_count(trainer_cfg: DictConfig) -> int:
    """How many processes `trainer.accelerator` and `trainer.devices` ask for on this node.

    Lightning's own parsers, so an impossible request (3 GPUs on a 1-GPU box) fails here, at once.
    """
    accelerator, devices = accelerator_kind(trainer_cfg), OmegaConf.to_container(trainer_cfg, resolve=True)["devices"]
    if accelerator in ("gpu", "cuda"):
        return CUDAAccelerator.auto_device_count() if devices == "auto" else len(CUDAAccelerator.parse_devices(devices) or [])
    if accelerator == "cpu":
        return 1 if devices == "auto" else CPUAccelerator.parse_devices(devices)
    return 1


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def pick_strategy(trainer_cfg: DictConfig):
    """`strategy: auto` on several devices: DDP that accepts a network without gradients.

    Each phase of the adversarial step leaves one network without gradients, which the plain DDP
    Lightning would pick rejects ("parameters that were not used in producing the loss"). Under a
    Hydra multirun the ranks are spawned: DDP's default launcher re-runs the command line, which
    would re-run the whole sweep in every child.
    """
    if trainer_cfg.strategy != "auto" or device_count(trainer_cfg) * trainer_cfg.num_nodes <= 1:
        return trainer_cfg.strategy
    return DDPStrategy(find_unused_parameters=True, start_method="spawn" if in_multirun() else "popen")
