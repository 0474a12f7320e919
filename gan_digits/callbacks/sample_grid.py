"""Draw the module's fixed noise into a grid: a TensorBoard image and a PNG under the run dir."""

from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger

from gan_digits.checks import check_choice, check_int
from gan_digits.gif import make_gif
from gan_digits.module import GRID_COLUMNS, GANModule
from gan_digits.sampling import draw, grid_image, save_png


class SampleGrid(L.Callback):
    """Every `every_n_steps` optimizer steps and at the end of every epoch, the same z drawn again.

    For a conditional model each row is one digit, 0 at the top. Files: `<dirpath>/step_<N>.png`,
    and with `gif` the grids as `<dirpath>/training.gif` when training ends.
    """

    def __init__(self, dirpath: str, every_n_steps: int | None = None, gif: bool = False):
        self.dirpath = Path(dirpath)
        # null or 0: at epoch ends only
        self.every_n_steps = None if every_n_steps is None else check_int("callbacks.sample_grid.every_n_steps",
                                                                           every_n_steps, 0)
        self.gif = check_choice("callbacks.sample_grid.gif", gif, (True, False))
        self._steps_seen = 0  # global_step after the previous batch: a batch takes several steps
        self._drawn_at = -1

    def on_train_start(self, trainer: L.Trainer, pl_module: GANModule) -> None:
        self._steps_seen = trainer.global_step

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: GANModule, outputs, batch, batch_idx: int) -> None:
        step, n = trainer.global_step, self.every_n_steps
        if n and step // n > self._steps_seen // n:  # this batch crossed a multiple of n
            self._log_grid(trainer, pl_module)
        self._steps_seen = step

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: GANModule) -> None:
        self._log_grid(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: GANModule) -> None:
        if self.gif and trainer.is_global_zero:
            make_gif(self.dirpath)

    def _log_grid(self, trainer: L.Trainer, pl_module: GANModule) -> None:
        if not trainer.is_global_zero or trainer.global_step == self._drawn_at:
            return
        self._drawn_at = trainer.global_step
        images = draw(pl_module.sampler, pl_module.fixed_z, pl_module.fixed_y)
        grid = grid_image(images, GRID_COLUMNS)
        self.dirpath.mkdir(parents=True, exist_ok=True)
        save_png(grid, self.dirpath / f"step_{trainer.global_step:07d}.png")
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image("samples", grid, global_step=trainer.global_step)
