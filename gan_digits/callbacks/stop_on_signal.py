"""SIGTERM, SIGINT and SIGUSR1 save `last.ckpt` and end the run with a code a scheduler can see.

Lightning saves on SIGTERM only with an extra callback and then exits 0, which a scheduler reads as
"finished". Here the signal is noted, the current batch completes, every rank agrees to stop,
`last.ckpt` is written (atomically: Lightning writes to a temporary file and renames it) and the
process exits with 128 + the signal number (143 for SIGTERM, 130 for Ctrl-C), as a shell would.
A second Ctrl-C stops at once (130 too). On SLURM, SIGUSR1 (the pre-emption warning) also requeues the job.
Spawned DDP ranks (`ddp_spawn`, a `-m` sweep's) get the signals of the process that spawned them, which waits.
"""

import logging
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import lightning as L
from lightning.pytorch.strategies.launchers.multiprocessing import _MultiProcessingLauncher
from lightning.pytorch.utilities import rank_zero_info

from gan_digits.run_commands import resume_command, shown

SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGUSR1") if hasattr(signal, name))


def reached_the_ranks(signum: int) -> bool:
    """Whether `signum` is a Ctrl-C at the terminal whose foreground this process group is: the terminal sent it to
    the spawned ranks too (passed on as well, it would be their second Ctrl-C, which stops at once)."""
    if signum != signal.SIGINT:
        return False
    try:
        terminal = os.open("/dev/tty", os.O_RDONLY)
    except OSError:  # no terminal: a SIGINT sent to this process alone
        return False
    try:
        return os.tcgetpgrp(terminal) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(terminal)


@contextmanager
def signals_forwarded_to_spawned_ranks(trainer: L.Trainer) -> Iterator[None]:
    """While `trainer` fits in spawned processes, this one only waits for them, and passes each signal on (a
    terminal's Ctrl-C reached them already): the ranks save and end, and their exit code is the run's
    (training.train). A SIGTERM here killed it (the ranks saved on the SIGINT its death sends them, and said
    SIGINT); a SIGINT passed on by `timeout` raised Lightning's KeyboardInterrupt here, and the ranks ended
    without a checkpoint; a SIGINT to the ranks alone ended this process with a ProcessExitedException
    traceback, once they had saved."""
    launcher = trainer.strategy.launcher
    if not isinstance(launcher, _MultiProcessingLauncher):
        yield
        return

    def forward(signum, frame) -> None:
        if reached_the_ranks(signum):
            return
        for process in getattr(launcher, "procs", []):
            if process.is_alive():
                os.kill(process.pid, signum)

    # torch's "Terminating process ... via signal SIGTERM" when one rank has ended (on a signal, or an error the
    # run reports in its own line) and the others follow it.
    spawn_log = logging.getLogger("torch.multiprocessing.spawn")
    level = spawn_log.level
    spawn_log.setLevel(logging.ERROR)
    previous = {sig: signal.signal(sig, forward) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        spawn_log.setLevel(level)


class StopOnSignal(L.Callback):
    def __init__(self, dirpath: str, requeue_on_slurm: bool = True):
        self.dirpath = Path(dirpath)
        self.requeue_on_slurm = requeue_on_slurm
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        if self.received == signal.SIGINT and signum == signal.SIGINT:
            # The second Ctrl-C: stop now, with the code the first ends with (Lightning ends a
            # KeyboardInterrupt with 1). The last.ckpt saved before, if any, is whole.
            raise SystemExit(128 + signum)
        self.received = signum

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Installed after Lightning's own handlers, which would otherwise end the run with code 0.
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        stop = self.received is not None
        if trainer.world_size > 1:  # every rank must take part in the save
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if not stop:
            return
        signum = self.received or signal.SIGTERM
        path = self.dirpath / "last.ckpt"
        trainer.save_checkpoint(path, weights_only=False)  # all of it, to resume from (and no log line asking)
        run_dir = Path(trainer.default_root_dir)  # paths.output_dir
        # In its own dir with the overrides it was started with: ckpt_path=<file> alone resumes the default model.
        own = path.absolute() == (run_dir / "checkpoints" / "last.ckpt").absolute()  # what ckpt_path=last reads
        command = resume_command(run_dir) if own else None
        rank_zero_info(f"{signal.Signals(signum).name} received: saved {shown(path)} at step {trainer.global_step}; "
                       + (f"resume it with: {command}" if command else f"resume with ckpt_path={shown(path)}"))
        if signum == getattr(signal, "SIGUSR1", None) and self.requeue_on_slurm and "SLURM_JOB_ID" in os.environ:
            if trainer.is_global_zero:
                subprocess.run(["scontrol", "requeue", os.environ["SLURM_JOB_ID"]], check=False)
        raise SystemExit(128 + signum)
