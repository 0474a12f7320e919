"""The process-wide settings training runs under, in every process that trains."""

import warnings

import lightning as L

from gan_digits.allocator import keep_freed_memory
from gan_digits.cuda_check import skip_unusable_nvml


def prepare_process() -> None:
    """Freed memory kept for the next step, no failed NVML load in every optimizer step (the
    benchmarks time their steps under these too), and no upstream warning in every run that is not the user's."""
    keep_freed_memory()
    skip_unusable_nvml()
    # Lightning 2.6 calls a torch API that torch 2.14 deprecates, and says so in every run: upstream,
    # harmless, and not the user's to fix (pytest's config silences it too).
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    # DDP, in every rank: D's first convolution takes 1 channel, and its weight's gradient comes back with another
    # stride for that dimension of size 1, the same memory; DDP compares the strides alone and warns in 4 lines
    # that this "may impair performance" (torch's issue #70222). Other shapes still warn.
    warnings.filterwarnings("ignore", message=r"(?s)Grad strides do not match bucket view strides.*"
                                              r"grad\.sizes\(\) = \[\d+, 1, \d+, \d+\]")


class PreparedProcess(L.Callback):
    """`prepare_process()` in every rank. DDP's spawned ranks (a `-m` sweep on several devices) start
    as fresh Pythons that never run `build()`, and importing Lightning there turns the NVML check on again."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        prepare_process()
