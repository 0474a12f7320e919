"""Which Lightning strategy a run gets: the one place that knows a GAN step and DDP need care."""

import os

from lightning.fabric.plugins.environments import (LSFEnvironment, MPIEnvironment, SLURMEnvironment,
                                                   TorchElasticEnvironment)
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.accelerators import CPUAccelerator, CUDAAccelerator
from lightning.pytorch.strategies import DDPStrategy, StrategyRegistry
from omegaconf import DictConfig, OmegaConf

from gan_digits.checks import ConfigError, as_typed, check_int, sweep_job

# Launchers that start every node's processes and tell them where node 0 is (Kubeflow's cannot be detected).
CLUSTERS = (SLURMEnvironment, TorchElasticEnvironment, LSFEnvironment, MPIEnvironment)


def accelerator_kind(trainer_cfg: DictConfig) -> str:
    """`trainer.accelerator` with `auto` resolved as this project uses it: `cuda` where CUDA is, else `cpu`.

    `cuda`, not `gpu`: Lightning's `gpu` means Apple's MPS first, where it is, and nothing here has run on it.
    """
    if trainer_cfg.accelerator == "auto":
        return "cuda" if CUDAAccelerator.is_available() else "cpu"
    return trainer_cfg.accelerator


def launched_by_cluster() -> bool:
    """Whether a launcher (SLURM's srun, torchrun, ...) started this process as one of the run's ranks."""
    return any(cluster.detect() for cluster in CLUSTERS)


def cpu_cores() -> int:
    """The cores this process may run on: its share (a container's, `taskset`'s), not the machine's count."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check_cpu_ranks(ranks: int) -> int:
    """`ranks` CPU processes, or a ConfigError where this process would start more than it has cores: each rank holds
    its own torch, nets and data (~1 GB), and 64 on 2 cores had not begun to train after 2 minutes. Two are allowed
    anywhere, so that `accelerator=ddp_cpu` (DDP tried out) runs on a one-core machine too. Ranks a cluster's
    launcher started are placed by it, each on its own share of the cores (SLURM's cpus_per_task)."""
    most = max(2, cores := cpu_cores())
    if ranks > most and not launched_by_cluster():
        raise ConfigError(f"trainer.devices={ranks} is not allowed here: on the CPU each device is a training process "
                          f"with its own copy of the nets and data, and this command may use {cores} "
                          f"core{'' if cores == 1 else 's'}: expected an integer from 1 to {most}")
    return ranks


def device_count(trainer_cfg: DictConfig) -> int:
    """How many processes `trainer.accelerator` and `trainer.devices` ask for on this node.

    Lightning's own parsers, so an impossible request (3 GPUs on a 1-GPU box) fails here, at once, in one line.
    """
    accelerator, devices = accelerator_kind(trainer_cfg), OmegaConf.to_container(trainer_cfg, resolve=True)["devices"]
    if accelerator in ("gpu", "cuda"):
        gpus = CUDAAccelerator.auto_device_count() if CUDAAccelerator.is_available() else 0
        try:
            if devices == "auto" and gpus:
                return gpus
            return len(CUDAAccelerator.parse_devices(-1 if devices == "auto" else devices) or [])
        except MisconfigurationException as err:  # two lines: "You requested gpu: [0]\n But your machine only has: []"
            cpu = "" if gpus else ": on the CPU, accelerator=cpu (accelerator=ddp_cpu trainer.devices=N for N processes)"
            raise ConfigError(f"trainer.devices={as_typed(devices)} is not allowed here: trainer.accelerator={accelerator} "
                              f"and this machine has {gpus} CUDA GPU{'' if gpus == 1 else 's'}{cpu}") from err
    if accelerator == "cpu":
        try:
            ranks = 1 if devices == "auto" else CPUAccelerator.parse_devices(devices)
        except TypeError as err:  # "`devices` selected with `CPUAccelerator` should be an int > 0."
            raise ConfigError(f"trainer.devices={as_typed(devices)} is not allowed: on the CPU, expected an integer >= 1 "
                              "(processes, each training on its share of the batches) or auto (one)") from err
        return check_cpu_ranks(ranks)
    return 1


def check_nodes(trainer_cfg: DictConfig) -> int:
    """`trainer.num_nodes`, or a ConfigError where the other nodes could never join: started by hand without
    MASTER_ADDR, node 0 would wait for them at 127.0.0.1 (Lightning's default) until torch's timeout."""
    nodes = check_int("trainer.num_nodes", trainer_cfg.num_nodes, 1)
    if nodes > 1 and "MASTER_ADDR" not in os.environ and not launched_by_cluster():
        raise ConfigError(f"trainer.num_nodes={nodes} is not allowed here: no cluster launched this command on {nodes} "
                          f"nodes. Launch it with SLURM (launcher=slurm), torchrun, or run it on each node with "
                          f"MASTER_ADDR=<node 0's address> MASTER_PORT=<a free port> NODE_RANK=<0 to {nodes - 1}> set")
    return nodes


def pick_strategy(trainer_cfg: DictConfig):
    """DDP that accepts a network without gradients, for `strategy: auto` on several devices and for
    Lightning's DDP names (`ddp`, `ddp_spawn`, ...); any other strategy as configured.

    Each phase of the adversarial step leaves one network without gradients, which plain DDP
    rejects at the first step ("parameters that were not used in producing the loss"), so DDP gets
    `find_unused_parameters=True`. Under a Hydra multirun the ranks are spawned: DDP's default
    launcher re-runs the command line, which would re-run the whole sweep in every child. Forked ranks
    (`ddp_fork`, `ddp_notebook`) are refused on the CPU: torch's OpenMP threads, already started here
    (reading the data, for one), do not survive a fork, and a rank with more than one thread waited
    forever at its first parallel operation (loading the classifier; not tried on a GPU, where they are allowed).
    So is `trainer.sync_batchnorm=true` with DDP on the CPU, which torch's SyncBatchNorm refuses in every rank.
    """
    nodes, devices = check_nodes(trainer_cfg), device_count(trainer_cfg)
    name = trainer_cfg.strategy
    if name == "auto":
        if devices * nodes <= 1:
            return name
        name = "ddp"
    entry = StrategyRegistry[name] if isinstance(name, str) and name in StrategyRegistry else {}  # `get` would build it
    if entry.get("strategy") is not DDPStrategy:
        return trainer_cfg.strategy
    if entry["init_params"].get("find_unused_parameters") is False:
        plain = name.removesuffix("_find_unused_parameters_false")
        raise ConfigError(f"trainer.strategy={name} is not allowed: each half of the GAN step leaves one network "
                          f"without gradients, which DDP then rejects; expected {plain} or auto (DDP with "
                          "find_unused_parameters here)")
    start_method, on_cpu = entry["init_params"]["start_method"], accelerator_kind(trainer_cfg) == "cpu"
    if start_method == "fork" and on_cpu:
        raise ConfigError(f"trainer.strategy={name} is not allowed on the CPU: a forked rank hangs at its first "
                          "parallel torch operation, as this process has already run torch's CPU threads (OpenMP) "
                          "before it forks; expected ddp or ddp_spawn (the same DDP, in fresh processes)")
    if trainer_cfg.get("sync_batchnorm") is True and on_cpu:  # else DDP's "only work with GPU modules", in every rank
        raise ConfigError("trainer.sync_batchnorm=true is not allowed with DDP on the CPU: torch's SyncBatchNorm runs "
                          "on GPUs only; expected false (each rank's batch norm then keeps to its own batch)")
    if start_method == "popen" and sweep_job() is not None:
        start_method = "spawn"
    return DDPStrategy(find_unused_parameters=True, start_method=start_method)
