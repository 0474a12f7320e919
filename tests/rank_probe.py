"""Test-only callbacks run inside train.py subprocesses: what each rank saw, and a signal at a known batch."""

import os
from pathlib import Path

import lightning as L
import torch


def checksum(module: torch.nn.Module) -> float:
    return float(sum(p.detach().double().sum() for p in module.parameters()))


class RankProbe(L.Callback):
    """Writes `rank<N>.pt`: per-batch weight checksums, the first batch's labels and a draw of the noise stream."""

    def __init__(self, dirpath: str):
        self.dirpath = Path(dirpath)
        self.record = {"checksums": [], "first_labels": None, "noise": None}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == 0:
            self.record["first_labels"] = batch[1].cpu()
            self.record["noise"] = torch.randn(4)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.record["checksums"].append((checksum(pl_module.generator), checksum(pl_module.discriminator)))

    def on_train_end(self, trainer, pl_module):
        self.record["world_size"] = trainer.world_size
        self.record["nvml_check"] = os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK")  # gan_digits/cuda_check.py
        self.record["matmul_precision"] = torch.get_float32_matmul_precision()  # the run's float32_matmul_precision
        self.dirpath.mkdir(parents=True, exist_ok=True)
        torch.save(self.record, self.dirpath / f"rank{trainer.global_rank}.pt")


class SendSignal(L.Callback):
    """Sends `signum` to this very process after batch `at_batch`: a kill at a known point, no waiting."""

    def __init__(self, at_batch: int, signum: int = 15):
        self.at_batch = at_batch
        self.signum = signum

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == 2 * self.at_batch:
            os.kill(os.getpid(), self.signum)


class SignalLauncher(SendSignal):
    """After batch `at_batch`, rank 0 sends `signum` to the process that spawned the ranks (`launcher`: as `timeout`
    or a scheduler signals the command's process) and every rank to itself (`ranks`); both: a Ctrl-C in a terminal."""

    def __init__(self, at_batch: int, signum: int = 15, launcher: bool = True, ranks: bool = False):
        super().__init__(at_batch, signum)
        self.launcher, self.ranks = launcher, ranks

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == 2 * self.at_batch:
            if self.ranks:
                os.kill(os.getpid(), self.signum)
            if self.launcher and trainer.global_rank == 0:
                os.kill(os.getppid(), self.signum)


class SignalInSanityCheck(SendSignal):
    """Sends `signum` as the sanity check starts: after Lightning's handlers are in place, before training."""

    def on_sanity_check_start(self, trainer, pl_module):
        os.kill(os.getpid(), self.signum)


class NanLossOnRank(L.Callback):
    """G's loss NaN at optimizer step `at_step` on rank `rank` alone: one rank's bad batch, as bf16 may overflow."""

    def __init__(self, rank: int, at_step: int):
        self.rank, self.at_step = rank, at_step

    def setup(self, trainer, pl_module, stage):
        if trainer.global_rank != self.rank:
            return
        loss, original = pl_module.loss, pl_module.loss.generator
        loss.generator = lambda logits: original(logits) * (float("nan") if trainer.global_step == self.at_step else 1.0)
