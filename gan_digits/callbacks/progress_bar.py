"""Lightning's TQDM bar, which also counts the epoch a resumed run goes on with.

Lightning (2.5 and later) skips `on_train_epoch_start` for the epoch a run resumes in (from a checkpoint a
signal saved in its middle, or one saved where `trainer.max_steps` cut it short), the hook where the bar
learns its length and its name: the rest of that epoch read `Training: 120/?`, at a rate that counted the batches
trained before the resume as done in its first second (Lightning-AI/pytorch-lightning#20603). This bar
starts that epoch itself, at the batches already trained.
"""

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar as LightningTQDMProgressBar


class TQDMProgressBar(LightningTQDMProgressBar):
    def on_train_start(self, trainer: L.Trainer, *args) -> None:
        super().on_train_start(trainer, *args)
        if trainer.fit_loop.restarted_mid_epoch or trainer.fit_loop.restarted_on_epoch_end:  # Lightning's own test
            self.on_train_epoch_start(trainer)
            bar = self.train_progress_bar
            bar.n = bar.initial = trainer.fit_loop.epoch_loop.batch_progress.current.completed
