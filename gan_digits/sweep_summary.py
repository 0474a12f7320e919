"""What a finished sweep (`python train.py -m ...`) says last: its runs side by side, the lowest FID first, and the
commands that plot and show them. Each job's own closing lines had scrolled away behind the jobs after it, and
nothing named the sweep's folder."""

import shlex
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from gan_digits.checks import UserInputError
from gan_digits.run_commands import local_command, shown


def sweep_summary(sweep_dir: Path, over_seeds: bool = False) -> str:
    """`compare`'s table of the sweep's runs, then the commands that plot them and open their TensorBoard; for a sweep
    `over_seeds` (seed=1,2,3), the one that averages each recipe over them."""
    from gan_digits.compare import compare  # reads events: imported once the jobs have run

    try:
        table = compare([sweep_dir])
    except UserInputError as err:  # no job started (Optuna's study may end so)
        return f"sweep done: {err}"
    runs = len(table.splitlines()) - 2  # a row each, below the header and its rule
    folder = shown(sweep_dir)
    python = local_command("python")
    commands = {
        "compare them": shlex.join([python, "-m", "gan_digits.compare", folder]),
        **({"mean over seeds": shlex.join([python, "-m", "gan_digits.compare", folder, "--mean-over", "seed"])}
           if over_seeds else {}),
        "plot them": shlex.join([python, "-m", "gan_digits.plot", folder, "--out", shown(sweep_dir / "curves.png")]),
        "TensorBoard": shlex.join([local_command("tensorboard"), "--logdir", folder]),
    }
    width = max(map(len, commands)) + 2
    lines = [f"sweep done: {runs} run{'' if runs == 1 else 's'} in {folder}", table]
    return "\n".join(lines + [f"  {label + ':':<{width}}{command}" for label, command in commands.items()])


class SweepSummary(Callback):
    """Hydra calls it once a sweep's jobs have all run (conf/train.yaml: hydra.callbacks); not after a failed job,
    where Hydra ends the sweep with that job's error."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        swept = OverridesParser.create().parse_overrides(list(config.hydra.overrides.task))
        over_seeds = any(override.key_or_group == "seed" and override.is_sweep_override() for override in swept)
        print(f"\n{sweep_summary(Path(config.hydra.sweep.dir), over_seeds)}")  # apart from the last job's lines
