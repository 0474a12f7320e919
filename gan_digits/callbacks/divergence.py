"""Stop, or roll back to the last checkpoint, when training diverges or the discriminator wins outright."""

import math
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn

from gan_digits.checkpoint import load_checkpoint
from gan_digits.checks import ReportedError, check_choice, check_int, check_probability


class DivergenceError(ReportedError):
    """Training diverged and the guard was told to stop."""


class DivergenceGuard(L.Callback):
    """Every `every_n_batches`: a NaN/inf loss, or `patience` checks in a row with mean D(real) above
    `d_real_above` and mean D(fake) below `d_fake_below` (D wins, G gets no gradient to learn from),
    trigger `action`: `stop` ends the run with an error naming the step; `rollback` reloads the
    weights and optimizer states of `last.ckpt` and goes on (at most `max_rollbacks` times, then stops).

    The losses are also checked for NaN/inf at every epoch's end, before that epoch's checkpoints
    (Lightning runs ModelCheckpoint last): weights gone NaN since the last check were saved into the
    `last.ckpt` a rollback returns to. Under DDP every rank checks the mean over the ranks, so all
    take the same decision at the same step: one rank's NaN batch had that rank roll back alone, the
    ranks' weights parted, and the run ended `done` with NaN weights.
    """

    def __init__(self, dirpath: str, action: str = "stop", every_n_batches: int = 10, d_real_above: float = 0.99,
                 d_fake_below: float = 0.01, patience: int = 20, max_rollbacks: int = 3):
        self.dirpath = Path(dirpath)
        self.action = check_choice("callbacks.divergence.action", action, ("stop", "rollback"))
        self.every_n_batches = check_int("callbacks.divergence.every_n_batches", every_n_batches, 1)
        self.d_real_above = check_probability("callbacks.divergence.d_real_above", d_real_above)
        self.d_fake_below = check_probability("callbacks.divergence.d_fake_below", d_fake_below)
        self.patience = check_int("callbacks.divergence.patience", patience, 1)
        self.max_rollbacks = check_int("callbacks.divergence.max_rollbacks", max_rollbacks, 0)
        self._collapsed_checks = 0
        self._checked_step = -1
        self.rollbacks = 0

    def _problem(self, metrics: dict) -> str | None:
        return self._not_finite(metrics) or self._discriminator_won(metrics)

    @staticmethod
    def _not_finite(metrics: dict) -> str | None:
        for name in ("train/d_loss", "train/g_loss"):
            if name in metrics and not math.isfinite(float(metrics[name])):
                return f"{name} is {float(metrics[name])}"
        return None

    def _discriminator_won(self, metrics: dict) -> str | None:
        if "train/d_real" in metrics and "train/d_fake" in metrics:
            d_real, d_fake = float(metrics["train/d_real"]), float(metrics["train/d_fake"])
            won = d_real > self.d_real_above and d_fake < self.d_fake_below
            self._collapsed_checks = self._collapsed_checks + 1 if won else 0
            if self._collapsed_checks >= self.patience:
                return (f"the discriminator has won for {self.patience} checks in a row "
                        f"(D(real)={d_real:.3f}, D(fake)={d_fake:.3f})")
        return None

    @staticmethod
    def _scalars(trainer: L.Trainer, pl_module) -> dict:
        """The last step's scalars, averaged over the ranks (one all-reduce; reading them is the only device sync)."""
        names = list(pl_module.last_train_scalars)
        if not names:  # nothing trained yet in this run (resumed at an epoch's end)
            return {}
        values = torch.stack([pl_module.last_train_scalars[name].float() for name in names])
        return dict(zip(names, trainer.strategy.reduce(values, reduce_op="mean")))

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if (batch_idx + 1) % self.every_n_batches == 0:
            self._checked_step = trainer.global_step
            self._act(trainer, pl_module, self._problem(self._scalars(trainer, pl_module)))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module) -> None:
        if trainer.global_step != self._checked_step:  # else its last batch was checked (and maybe rolled back)
            self._act(trainer, pl_module, self._not_finite(self._scalars(trainer, pl_module)))

    def _act(self, trainer: L.Trainer, pl_module, problem: str | None) -> None:
        if problem is None:
            return
        last = self.dirpath / "last.ckpt"
        if self.action == "rollback" and self.rollbacks < self.max_rollbacks and last.is_file():
            self.rollbacks += 1
            self._collapsed_checks = 0
            checkpoint = load_checkpoint(last)
            pl_module.carry_settings_into(checkpoint)  # a resumed run's settings, over those of the run it resumed
            pl_module.load_state_dict(checkpoint["state_dict"])
            for optimizer, state in zip(trainer.optimizers, checkpoint["optimizer_states"]):
                optimizer.load_state_dict(state)
            rank_zero_warn(f"divergence guard: {problem} at step {trainer.global_step}: rolled back to the "
                           f"weights of {last} (step {checkpoint['global_step']}), rollback {self.rollbacks} "
                           f"of {self.max_rollbacks}")
            return
        raise DivergenceError(f"divergence guard: {problem} at step {trainer.global_step}: stopped "
                              f"(last checkpoint: {last if last.is_file() else 'none yet'})")
