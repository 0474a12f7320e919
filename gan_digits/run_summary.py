"""What a finished training run says last: how far it got, where its outputs are, what to run next.

The progress bar ends on a number; these lines name the files and commands a user wants after it,
as paths that can be pasted from the folder the run was started in. The step and the best
checkpoint come from the run's last checkpoint where it kept one: when DDP ran the fit in spawned
processes (a `-m` sweep), Lightning hands the main process's trainer back neither.
"""

import shlex
from datetime import timedelta
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping, Timer
from lightning.pytorch.loggers import TensorBoardLogger

from gan_digits.callbacks import QualityMetrics
from gan_digits.callbacks.epoch_lines import said_duration, said_steps
from gan_digits.callbacks.quality import said_quality
from gan_digits.checkpoint import load_checkpoint
from gan_digits.run_commands import as_override, local_command, project_script, resume_command, shown


def finished_epochs(saved: dict) -> int:
    """The whole epochs a checkpoint holds: the one it was saved at the end of, not one a signal or `max_steps`
    cut short (Lightning saves `epoch` as the epoch it was in)."""
    batches = saved.get("loops", {}).get("fit_loop", {}).get("epoch_loop.batch_progress", {})
    return saved.get("epoch", -1) + (1 if batches.get("is_last_batch", True) else 0)


def reached_bound(trainer: L.Trainer, saved: dict) -> str | None:
    """`max_steps` or `max_epochs`, the trainer's bound that the step and epoch `saved` holds have reached (the
    run's last checkpoint's), or None (the run ended otherwise: `trainer.max_time`, a signal, early stopping)."""
    if trainer.max_steps != -1 and saved.get("global_step", 0) >= trainer.max_steps:
        return "max_steps"
    if 0 < trainer.max_epochs <= finished_epochs(saved):
        return "max_epochs"
    return None


def run_end(trainer: L.Trainer, ended: dict) -> str | None:
    """Which setting ended a run at the step and epoch `ended` holds, said as a user sets it; None for another end."""
    if (bound := reached_bound(trainer, ended)) is not None:
        return f"trainer.{bound}={getattr(trainer, bound)} ends the run"
    for timer in (c for c in trainer.callbacks if isinstance(c, Timer)):
        if timer.time_remaining("train") <= 0:  # the time trained before, which a resumed run's Timer restores
            trained = timedelta(seconds=round(timer.time_elapsed("train")))
            return f"trainer.max_time ends the run ({trained} trained already)"
    return None


def train_on_command(trainer: L.Trainer, run_dir: Path, saved: dict) -> str | None:
    """The command that resumes the run for twice the epochs, or twice the steps where `trainer.max_steps` ended it;
    None unless the run was started from the command line and ended at that bound."""
    if any(isinstance(c, Timer) for c in trainer.callbacks) or (bound := reached_bound(trainer, saved)) is None:
        return None
    # max_steps=1 trains one batch, 2 steps: twice the steps trained
    value = 2 * saved["global_step"] if bound == "max_steps" else 2 * trainer.max_epochs
    return resume_command(run_dir, f"trainer.{bound}={value}")


def callback_state(callback: L.Callback, saved: dict) -> dict:
    """`callback`'s state as the run's last checkpoint holds it (what spawned DDP ranks did), else its own."""
    return saved.get("callbacks", {}).get(callback.state_key) or callback.state_dict()


def early_stop(trainer: L.Trainer, saved: dict) -> str | None:
    """Why an early-stopping callback ended the run (after which epoch, on which metric), or None."""
    for callback in trainer.callbacks:
        if isinstance(callback, EarlyStopping):
            state = callback_state(callback, saved)
            # Only a stop at the last epoch saved: a resumed run restores an earlier stop's state, and trains on.
            if state["stopping_reason_message"] and state["stopped_epoch"] == saved.get("epoch", state["stopped_epoch"]):
                reason = state["stopping_reason_message"].removesuffix(" Signaling Trainer to stop.")
                return f"after epoch {state['stopped_epoch'] + 1}: {reason}"
    return None


def tensorboard_command(trainer: L.Trainer) -> str | None:
    """The command that opens the run's TensorBoard events, or None when it logs none."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return shlex.join([local_command("tensorboard"), "--logdir", shown(logger.log_dir)])
    return None


def run_start(trainer: L.Trainer, run_dir: str | Path) -> str:
    """One line before training: where the run writes, and how to watch it train (its summary says it again)."""
    command = tensorboard_command(trainer)
    return f"outputs: {shown(run_dir)}" + (f" (watch it train: {command})" if command else "")


def run_summary(trainer: L.Trainer, run_dir: str | Path, metrics: dict[str, float], seconds: float,
                resumed_at: int | None = None, data_root: str | Path | None = None) -> str:
    """A few lines for the end of `train.py`: steps, final quality, best checkpoint, and the commands to sample
    the run, measure its best checkpoint against the real-data floor, train it on and open TensorBoard.
    `resumed_at`: the step of the checkpoint a resumed run started from; `data_root`: the MNIST folder it trained on,
    which the measuring command reads (not the trainer's datamodule: spawned DDP ranks leave none in this process)."""
    run_dir = Path(run_dir)
    last = run_dir / "checkpoints" / "last.ckpt"
    saved = load_checkpoint(last) if last.is_file() else {}
    # Where the run ended: its last checkpoint's step and epoch (spawned DDP ranks leave the main process's
    # trainer at 0), else the trainer's, whose current_epoch has counted the epoch a checkpoint saved in.
    ended = saved or {"global_step": trainer.global_step, "epoch": trainer.current_epoch - 1}
    steps = ended["global_step"]  # two optimizer steps a batch
    trained_nothing = steps == resumed_at  # resumed where its trainer.max_* already ends it
    rows = []
    if quality := said_quality(metrics):
        scored = [callback_state(c, saved).get("scored_at") for c in trainer.callbacks if isinstance(c, QualityMetrics)]
        if scored and scored[0] is not None and scored[0] != steps:  # trained on after it (max_steps, a signal)
            quality += f" (scored at step {scored[0]}; the run trained on to step {steps})"
        rows.append(("latest val", quality))
    elif (not trained_nothing and trainer.limit_val_batches != 0
          and any(isinstance(c, QualityMetrics) for c in trainer.callbacks)):
        rows.append(("latest val", "none: the run ended before a validation scored it"))
    if (reason := early_stop(trainer, saved)) is not None:
        rows.append(("stopped early", reason))
    rows.append(("outputs", shown(run_dir)))
    best = None
    for callback in trainer.checkpoint_callbacks:
        state = callback_state(callback, saved)
        path, score = state["best_model_path"], state["best_model_score"]
        if callback.monitor and path and Path(path).is_file():
            # Resumed into another folder, Lightning keeps the best's path but not its score until a validation.
            value = shown(path) + (f" ({float(score):.4g})" if score is not None else "")
            rows.append((f"best {callback.monitor}", value))
            best = best or path
    if saved:
        python = local_command("python")  # each command quoted for the shell: a run dir may hold a space
        rows.append(("sample it", shlex.join([python, project_script("sample.py"), as_override("ckpt", shown(last))])))
        data = ["--data", shown(data_root)] if data_root is not None else []
        measure = [python, "-m", "gan_digits.evaluate", shown(best or last), "--floor", *data]
        rows.append(("measure it", shlex.join(measure)))
    if (command := train_on_command(trainer, run_dir, saved)) is not None:
        rows.append(("train on", command))
    if (command := tensorboard_command(trainer)) is not None:
        rows.append(("TensorBoard", command))
    width = max(len(label) for label, _ in rows) + 2
    head = f"done: {said_steps(steps)} after {said_duration(seconds)} of training"
    if trained_nothing and (end := run_end(trainer, ended)) is not None:
        head = f"done: nothing trained: the checkpoint is at {said_steps(steps)}, where {end}: raise it to train on"
    return "\n".join([head] + [f"  {label + ':':<{width}}{value}" for label, value in rows])
