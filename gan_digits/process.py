"""The process-wide settings training runs under, in every process that trains."""

import os
import warnings

import lightning as L
import torch

from gan_digits.allocator import keep_freed_memory
from gan_digits.cuda_check import skip_unusable_nvml
from gan_digits.run_log import log_into, run_log_handler


# torch.set_float32_matmul_precision's choices (the config's float32_matmul_precision).
MATMUL_PRECISIONS = ("highest", "high", "medium")


def prepare_process(matmul_precision: str = "highest") -> None:
    """Freed memory kept for the next step, no failed NVML load in every optimizer step (the
    benchmarks time their steps under these too), the run's float32 matmul precision (a process-wide setting of
    torch's), and no upstream warning in every run that is not the user's."""
    keep_freed_memory()
    skip_unusable_nvml()
    torch.set_float32_matmul_precision(matmul_precision)
    # Lightning 2.6 calls a torch API that torch 2.14 deprecates, and says so in every run: upstream,
    # harmless, and not the user's to fix (pytest's config silences it too).
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    # DDP, in every rank: D's first convolution takes 1 channel, and its weight's gradient comes back with another
    # stride for that dimension of size 1, the same memory; DDP compares the strides alone and warns in 4 lines
    # that this "may impair performance" (torch's issue #70222). Other shapes still warn.
    warnings.filterwarnings("ignore", message=r"(?s)Grad strides do not match bucket view strides.*"
                                              r"grad\.sizes\(\) = \[\d+, 1, \d+, \d+\]")


def quiet_answered_warnings(resuming: bool, in_memory: bool) -> None:
    """Lightning's warnings that a run here has answered already (`resuming`: a checkpoint's run goes on; `in_memory`:
    its batches are indexed from memory, data.loader=memory), filtered by PreparedProcess in every rank: in
    `train()`'s process for its fit alone, in a spawned rank's for its life."""
    if resuming:  # in its run dir: of course its checkpoints/ holds files
        warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
        # Lightning calls a resume mid-epoch unreliable unless the loader saves its own state: the sampler
        # goes on with the epoch's batches not yet trained (data/sampler.py), as the uninterrupted run would.
        warnings.filterwarnings("ignore", message=r"You're resuming from a checkpoint that ended before the epoch")
        # Resumed into another folder, whose best checkpoint is its own (README: Runs that survive).
        warnings.filterwarnings("ignore", message=r"The dirpath has changed from .* won't be reloaded")
    if in_memory:  # On more than 2 cores Lightning advises loader workers, which the torchvision loader does need
        warnings.filterwarnings("ignore", message=r"The '(train|val)_dataloader' does not have many workers")
    # Every bf16-mixed run (auto's pick on many CPUs): the summary's size estimate counts 4 bytes a weight.
    warnings.filterwarnings("ignore", message=r"Precision .* is not supported by the model summary")
    # A run that ends before its first validation (max_steps within the first epoch): Lightning asks whether
    # the module logs the best checkpoint's metric. Every monitor was checked against what the run logs
    # (training.check_monitors), and Lightning warns only before a validation has run: the summary says so instead.
    warnings.filterwarnings("ignore", message=r"`ModelCheckpoint\(monitor=.*\)` could not find the monitored key")


class PreparedProcess(L.Callback):
    """`prepare_process()`, `quiet_answered_warnings()` and the run's log file in every rank. DDP's spawned ranks
    (`ddp_spawn`, a `-m` sweep on several devices) start as fresh Pythons that never run `build()` nor Hydra's
    logging set-up, and importing Lightning there turns the NVML check on again. First among the callbacks, before
    ModelCheckpoint's setup warns of a full folder."""

    def __init__(self, resuming: bool = False, in_memory: bool = True, matmul_precision: str = "highest"):
        self.resuming, self.in_memory, self.matmul_precision = resuming, in_memory, matmul_precision
        handler = run_log_handler()
        self.log_file = (handler.baseFilename, handler.formatter) if handler is not None else None
        self.built_in = os.getpid()

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        prepare_process(self.matmul_precision)
        quiet_answered_warnings(self.resuming, self.in_memory)
        if self.log_file is not None and os.getpid() != self.built_in:  # a spawned rank: no Hydra logging set up there
            log_into(*self.log_file)
