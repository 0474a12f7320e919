"""A line at every epoch's end, in the run's train.log, and on the terminal where no progress bar draws one: a batch
job's log (`trainer.enable_progress_bar=false` or `callbacks.progress_bar.refresh_rate=0`, a SLURM output file) said
nothing from the model summary to the run's last lines, however many hours apart."""

import time

import lightning as L
from lightning.pytorch.utilities import rank_zero_info

from gan_digits.callbacks.quality import said_quality
from gan_digits.run_log import into_run_log


def said_duration(seconds: float) -> str:
    """`3 min 26 s`: how a run says how long it has trained."""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s"


def said_steps(steps: int) -> str:
    """`step 13,744 (6,872 batches)`: how a run says how far it has got (two optimizer steps a batch)."""
    batches = steps // 2
    return f"step {steps:,} ({batches:,} batch{'' if batches == 1 else 'es'})"


class EpochLines(L.Callback):
    """`epoch 3 of 8: step 5,154 (2,577 batches) after 1 min 18 s of training; val/fid 1.021, val/modes 10`, on rank 0,
    the validation's metrics when one ran in that epoch. Where a progress bar shows the same, into train.log alone."""

    def __init__(self):
        self.started = time.monotonic()
        self.validated = False

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started = time.monotonic()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.validated = self.validated or not trainer.sanity_checking

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        validated, self.validated = self.validated, False
        if not trainer.is_global_zero:
            return
        epoch = f"epoch {trainer.current_epoch + 1}"
        if trainer.max_epochs and trainer.max_epochs > 0:
            epoch += f" of {trainer.max_epochs}"
        done, whole = trainer.fit_loop.epoch_loop.batch_progress.current.completed, trainer.num_training_batches
        if done < whole:  # trainer.max_steps, max_time or a signal ended it
            epoch += f" (cut short: {done:,} of its {whole:,} batches)"
        trained = said_duration(time.monotonic() - self.started)
        line = f"{epoch}: {said_steps(trainer.global_step)} after {trained} of training"
        if quality := (said_quality(trainer.callback_metrics) if validated else ""):
            line += f"; {quality}"
        if (bar := trainer.progress_bar_callback) is not None and bar.is_enabled:  # refresh_rate=0 turns it off too
            into_run_log(line)  # the terminal has the bar
        else:
            rank_zero_info(line)
