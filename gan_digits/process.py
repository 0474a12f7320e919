"""The process-wide settings training runs under, in every process that trains."""

import lightning as L

from gan_digits.allocator import keep_freed_memory
from gan_digits.cuda_check import skip_unusable_nvml


def prepare_process() -> None:
    """Freed memory kept for the next step, no failed NVML load in every optimizer step (the
    benchmarks time their steps under these too)."""
    keep_freed_memory()
    skip_unusable_nvml()


class PreparedProcess(L.Callback):
    """`prepare_process()` in every rank. DDP's spawned ranks (a `-m` sweep on several devices) start
    as fresh Pythons that never run `build()`, and importing Lightning there turns the NVML check on again."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        prepare_process()
