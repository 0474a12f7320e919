"""train.py as a user runs it: outputs under the run dir, and bad input stopped before any work."""

import re
import shlex
import sys
from pathlib import Path

import pytest
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from conftest import DATA, ROOT, TINY_MODEL, TINY_RUN, compose_train, imported_modules, run_script
from gan_digits.compare import compare
from gan_digits.run_commands import local_command, shown

TINY_CLI = [
    f"data.root={DATA}",
    "data.subset=128",
    "data.val_size=64",
    "data.batch_size=32",
    "trainer.max_epochs=1",
    "trainer.log_every_n_steps=1",
    "trainer.limit_val_batches=1",
    "trainer.enable_progress_bar=false",
    "callbacks.quality.n=100",
    "callbacks.quality.kid_subset_size=50",
    "callbacks.quality.real_limit=500",
]


def test_train_cli_leaves_every_output_under_the_run_dir_and_says_what_to_run_next(tmp_path):
    # A config folder of the user's, which the commands keep; a run dir with a space, which they quote.
    run, mine = tmp_path / "my run", tmp_path / "my_conf"
    mine.mkdir()
    result = run_script("train.py", "--config-dir", str(mine), "model=cdcgan", *TINY_MODEL["cdcgan"], *TINY_CLI,
                        f"hydra.run.dir={run}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert list((run / "tb").glob("events.out.tfevents.*"))
    assert (run / "samples" / "step_0000008.png").is_file()
    assert (run / ".hydra" / "config.yaml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my run", "my_conf"]  # nothing written beside it

    # It starts by naming its folder and how to watch it train, before Lightning's model summary ...
    output = result.stdout + result.stderr
    start = f"outputs: {run} (watch it train: "
    assert output.count(start) == 1 and output.index(start) < output.index("| Name ")
    assert shlex.split(output.split(start)[1].split(")")[0])[1:] == ["--logdir", str(run / "tb")]
    # ... and ends by naming its outputs and the command that samples it, and that command works as printed.
    assert output.count("done: step 8 (4 batches) after ") == 1 and output.count("Seed set to 42") == 1  # once each
    summary = output[output.index("done: step 8 (4 batches) after "):].splitlines()[1:]
    rows = dict((part.strip() for part in line.split(":", 1)) for line in summary if line.startswith("  "))
    assert rows["outputs"] == str(run)
    assert rows["latest val"].startswith("val/fid ") and "val/label_acc " in rows["latest val"]
    best = rows["best val/fid"].split(" (")[0]
    assert best.startswith(str(run / "checkpoints" / "epoch00-fid")) and Path(best).is_file()
    assert shlex.split(rows["TensorBoard"])[1:] == ["--logdir", str(run / "tb")]
    python, script, ckpt = shlex.split(rows["sample it"])  # printed unquoted, it pasted as two words
    assert python in (shown(sys.executable), Path(sys.executable).name) and script == "sample.py"  # python3 too
    assert ckpt == f"ckpt={run / 'checkpoints' / 'last.ckpt'}"
    sampled = run_script(script, ckpt, f"out={tmp_path / 'grid.png'}")
    assert sampled.returncode == 0, sampled.stderr[-3000:]
    assert (tmp_path / "grid.png").stat().st_size > 0
    # ... the command that measures its best checkpoint against the real-data floor (run in test_metrics.py) ...
    assert shlex.split(rows["measure it"])[1:] == ["-m", "gan_digits.evaluate", best, "--floor", "--data", str(DATA)]
    # ... and the command that trains it on: the same overrides, its last.ckpt, twice the epochs.
    _, script, *args = shlex.split(rows["train on"])
    assert script == "train.py" and args[-3:] == [f"hydra.run.dir={run}", "ckpt_path=last", "trainer.max_epochs=2"]
    assert args[:3] == ["--config-dir", str(mine), "model=cdcgan"] and args.count(f"hydra.run.dir={run}") == 1
    trained_on = run_script(script, *args)
    assert trained_on.returncode == 0, trained_on.stderr[-3000:]
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 16
    assert "done: step 16 (8 batches) after " in trained_on.stdout + trained_on.stderr
    assert "exists and is not empty" not in trained_on.stderr  # Lightning's warning, which a resume in its dir is not worth


def test_paths_are_shown_from_where_the_command_started_when_hydra_moves_into_the_run_dir(tmp_path, monkeypatch):
    # With hydra.job.chdir=true the run's closing lines said ckpt=checkpoints/last.ckpt and hydra.run.dir=. (from
    # inside the run dir), which pasted where the command was started named nothing.
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    compose_train("gan", ["hydra.job.chdir=true"], output_dir=run)  # Hydra's config, as train.py runs under it
    run.mkdir()
    monkeypatch.chdir(run)
    assert shown(run / "checkpoints" / "last.ckpt") == "run/checkpoints/last.ckpt"
    compose_train("gan", output_dir=run)  # without chdir: from the folder it is in
    assert shown(run / "checkpoints" / "last.ckpt") == "checkpoints/last.ckpt"


def test_commands_to_run_next_name_the_interpreter_as_the_shell_finds_it(tmp_path, monkeypatch):
    """A venv's python is printed by path unless it is the one on PATH (activated), so the line pastes."""
    bin_dir = tmp_path / "project" / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "tensorboard"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # not activated
    monkeypatch.chdir(tmp_path / "project")
    assert [local_command("python"), local_command("tensorboard")] == [".venv/bin/python", ".venv/bin/tensorboard"]
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert local_command("python") == str(bin_dir / "python")  # was a bare `python`: the system's, or none
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")  # activated
    assert [local_command("python"), local_command("tensorboard")] == ["python", "tensorboard"]
    assert local_command("no-such-tool") == "no-such-tool"


def test_unknown_model_lists_the_choices_before_importing_torch():
    result = run_script("-X", "importtime", "train.py", "model=dcgn")
    assert result.returncode == 2
    # Hydra's 13 lines ("Could not find 'model/dcgn'", its options with the models' base among them, its search path).
    assert result.stderr.strip().splitlines()[-1] == (
        "error: model=dcgn is not allowed: expected one of cdcgan, cdcgan_tf, dcgan, dcgan_tf, gan (did you mean dcgan?)")
    imported = imported_modules(result.stderr)
    assert "hydra" in imported and "torch" not in imported  # a second, not the ten of importing torch and Lightning


def test_an_option_in_a_config_folder_of_the_users_is_one_to_choose(tmp_path):
    from gan_digits.checks import ConfigError
    from gan_digits.command_line import check_known_keys

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "mine.yaml").write_text("defaults:\n  - gan\n")
    check_known_keys(["--config-dir", str(tmp_path), "model=mine"], ROOT / "conf", "train")
    with pytest.raises(ConfigError, match=r"^accelerator=gpus is not allowed: expected one of auto, cpu, ddp, ddp_cpu, gpu "
                                          r"\(did you mean gpu\?\)$"):
        check_known_keys(["--config-dir", str(tmp_path), "model=mine", "accelerator=gpus"], ROOT / "conf", "train")
    with pytest.raises(ConfigError, match=r"^model=mien is not allowed: expected one of .*dcgan_tf, gan, mine "
                                          r"\(did you mean mine\?\)$"):
        check_known_keys(["--config-dir", str(tmp_path), "model=mien"], ROOT / "conf", "train")


def test_the_models_base_config_is_named_before_importing_torch(tmp_path):
    # Hydra lists the models' base among the models. Run in a folder of its own: the run's folder goes there.
    result = run_script("-X", "importtime", str(ROOT / "train.py"), "model=default", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: model.discriminator, model.generator must be set: model=default is the base the models inherit: "
        "choose one of cdcgan, cdcgan_tf, dcgan, dcgan_tf, gan")  # was omegaconf's MissingMandatoryValue traceback
    assert "torch" not in imported_modules(result.stderr)
    assert not list(tmp_path.rglob(".hydra"))  # the run's folder, made before the config was checked, is removed


def test_help_says_what_each_command_does_and_takes():
    train_help = run_script("train.py", "model=gan", "--help")
    assert train_help.returncode == 0
    assert train_help.stdout.startswith("Train a GAN on MNIST digits: python train.py [group=option ...] [key=value ...]")
    assert "model: cdcgan, cdcgan_tf, dcgan, dcgan_tf, default, gan" in train_help.stdout
    assert "_target_: gan_digits.nets.MLPGenerator" in train_help.stdout  # the config model=gan composes
    sample_help = run_script("sample.py", "--help")
    assert sample_help.returncode == 0
    assert sample_help.stdout.startswith("Turn a checkpoint into digits: python sample.py ckpt=<path> [key=value ...]")
    assert "ckpt: ???" in sample_help.stdout and "model:" not in sample_help.stdout  # was train's groups, for Hydra's


def test_a_group_set_to_no_options_name_is_named_in_one_line():
    # Was Hydra's "ValueError: Config group override must be a string or a list" traceback.
    result = run_script("train.py", "logger=null")  # lightning-hydra-template's way to run without a logger
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: logger=null is not allowed: logger is a config group: expected one of tensorboard, "
        "or ~logger to run without it"]
    result = run_script("train.py", "-m", "model=1")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: model=1 is not allowed: model is a config group: expected one of cdcgan, cdcgan_tf, dcgan, "
        "dcgan_tf, gan"]


def test_an_option_needing_a_hydra_plugin_not_installed_names_the_extra(monkeypatch):
    # Hydra said "Could not find 'hydra/sweeper/optuna'" (the README's Optuna sweep without its pip step).
    from gan_digits.checks import ConfigError
    from gan_digits.command_line import PLUGINS, check_plugins

    for plugin in PLUGINS:
        monkeypatch.setitem(PLUGINS, plugin, ("omegaconf", "any"))  # a module this environment has
    check_plugins(["hparams_search=fid_optuna", "launcher=slurm", "model=gan,dcgan"], ROOT / "conf")
    monkeypatch.setitem(PLUGINS, "sweeper/optuna", ("no_such_plugin_module", "sweep"))
    monkeypatch.setitem(PLUGINS, "launcher/submitit_slurm", ("no_such_plugin_package.launcher", "slurm"))
    with pytest.raises(ConfigError) as caught:
        check_plugins(["-m", "hparams_search=fid_optuna"], ROOT / "conf")
    assert str(caught.value) == ("hparams_search=fid_optuna needs Hydra's optuna sweeper, not installed here: "
                                 "pip install -e \".[sweep]\" (from the project root)")
    with pytest.raises(ConfigError, match=r"^launcher=slurm needs Hydra's submitit_slurm launcher, .*\.\[slurm\]"):
        check_plugins(["launcher=slurm"], ROOT / "conf")


def test_a_tilde_in_a_path_is_named_with_the_fix():
    # The shell leaves `~` after `data.root=` alone (zsh after any `key=`), and Hydra's grammar refused it.
    result = run_script("train.py", "data.root=~/mnist")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: data.root=~/mnist is not allowed: Hydra reads ~ as an operator, even in a path: "
        "write data.root=$HOME/mnist (the shell fills in $HOME)"]
    result = run_script("sample.py", "ckpt=runs/~old/last.ckpt")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith("""write 'ckpt="runs/~old/last.ckpt"'""")


def test_hydra_flags_it_refuses_with_a_traceback_are_named_in_one_line():
    # A sweep's config asked for with --cfg: Hydra's ValueError traceback ("Only one of --run, --multirun, ...").
    result = run_script("train.py", "-m", "model=gan,dcgan", "--cfg", "job")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --multirun with --cfg is not allowed: Hydra does one of --run, --multirun (-m), --cfg (-c), --info (-i) "
        "and --shell-completion at a time (to see a sweep job's config: its values, without -m, and --cfg job)"]
    from gan_digits.checks import ConfigError
    from gan_digits.command_line import check_overrides

    with pytest.raises(ConfigError, match=r"^--resolve is not allowed without --cfg: it resolves the config that --cfg "
                                          r"prints \(--cfg job --resolve\)$"):
        check_overrides(["--resolve", "ckpt=x"])
    with pytest.raises(ConfigError, match=r"^--cfg with --info is not allowed: Hydra does one of "):
        check_overrides(["-c", "job", "-i"])
    with pytest.raises(ConfigError, match=r"^--experimental-rerun x.pickle is not allowed: Hydra unpickles that file, "
                                          r"which can run any code in it\. To run a run again"):
        check_overrides(["--experimental-rerun", "x.pickle"])  # Hydra unpickled any file named
    for fine in (["--cfg", "job", "--resolve"], ["-m", "model=gan,dcgan"], ["--help", "--resolve"], ["-cd", "x", "-m"]):
        check_overrides(fine)


def test_a_sample_setting_its_mode_does_not_read_is_named_with_the_modes_that_do(tmp_path):
    # `a=3 b=8` without mode=interpolate drew the default grid and said nothing of a and b.
    sample = [str(ROOT / "sample.py"), f"ckpt={tmp_path / 'x.ckpt'}"]
    result = run_script(*sample, "a=3", "b=8", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: a=3 is not allowed with mode=grid, which does not read it: a is for mode=interpolate and arithmetic "
        "(mode=grid reads out, n, seed, digits, codes, columns, scale)"]
    result = run_script(*sample, "mode=interpolate", "seed=3", cwd=tmp_path)
    assert result.stderr.strip().splitlines() == [
        "error: seed=3 is not allowed with mode=interpolate, which does not read it: seed is for mode=grid, digits, "
        "compare and npz (mode=interpolate reads out, a, b, steps, digits, codes, scale)"]
    result = run_script(*sample, "mode=interpolate", "a=3", "b=8", cwd=tmp_path)
    assert result.stderr.strip().splitlines() == [f"error: checkpoint not found: {tmp_path / 'x.ckpt'}"]  # read: on
    assert list(tmp_path.iterdir()) == []


def test_the_closing_commands_quote_a_path_hydra_would_take_apart(tmp_path, trained):
    """A sweep's job folder named by its overrides (`hydra.sweep.subdir=${hydra.job.override_dirname}`) holds `=`, `,`
    and brackets: the run's `sample it` and `train on` lines were refused by Hydra's grammar as printed."""
    from gan_digits.run_commands import as_override

    job = tmp_path / "lr=0.0001,hidden=[32,64]"
    (job / "checkpoints").mkdir(parents=True)
    (job / "checkpoints" / "last.ckpt").write_bytes((trained["gan"] / "checkpoints" / "last.ckpt").read_bytes())
    assert as_override("ckpt", "outputs/d/t/checkpoints/last.ckpt") == "ckpt=outputs/d/t/checkpoints/last.ckpt"
    ckpt = as_override("ckpt", str(job / "checkpoints" / "last.ckpt"))
    assert ckpt == f'ckpt="{job}/checkpoints/last.ckpt"'
    sampled = run_script("sample.py", ckpt, f"out={tmp_path / 'grid.png'}")
    assert sampled.returncode == 0 and (tmp_path / "grid.png").is_file(), sampled.stderr[-2000:]


def test_a_path_holding_an_equals_sign_is_named_with_the_fix_or_read_as_a_path(tmp_path, monkeypatch):
    """Lightning's own checkpoint names (epoch=0-step=4.ckpt: a ModelCheckpoint without a filename, as a plain
    Lightning project writes them): Hydra's grammar refused them ("mismatched input '='"), and evaluate took one
    for an option."""
    from gan_digits.checks import ConfigError
    from gan_digits.command_line import check_overrides, key_value_argv

    with pytest.raises(ConfigError, match=r"""^ckpt=/r/epoch=0-step=4.ckpt is not allowed: Hydra takes a second = for """
                                          r"""a mistake, even in a path: write 'ckpt="/r/epoch=0-step=4.ckpt"'$"""):
        check_overrides(["ckpt=/r/epoch=0-step=4.ckpt"])
    check_overrides(['ckpt="/r/epoch=0-step=4.ckpt"'])  # the fix it names: Hydra reads it
    flags = ("real",)
    assert key_value_argv(["/r/epoch=0-step=4.ckpt", "n=1000", "real=true"], flags) == [
        "/r/epoch=0-step=4.ckpt", "--n=1000", "--real"]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "epoch=0-step=4.ckpt").write_bytes(b"")
    assert key_value_argv(["epoch=0-step=4.ckpt", "epoch=1-step=8.ckpt"]) == ["epoch=0-step=4.ckpt", "--epoch=1-step=8.ckpt"]


def test_a_failed_job_of_a_sweep_leaves_the_other_jobs_to_run(tmp_path):
    # Each job fails in a second (model=default is no model); the sweep used to end at the first one.
    result = run_script("train.py", "-m", "model=default", "seed=1,2", f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 1
    assert result.stderr.count("error: model.discriminator, model.generator must be set") == 2  # both jobs ran
    assert [line for line in result.stderr.splitlines() if line.startswith("error: job")] == [
        "error: job #0 of the sweep failed: model.discriminator, model.generator must be set: model=default is the "
        "base the models inherit: choose one of cdcgan, cdcgan_tf, dcgan, dcgan_tf, gan"]
    assert "Traceback" not in result.stderr and "sweep done" not in result.stdout  # no table: no job trained


def test_a_sweep_with_a_failed_job_still_ends_with_its_runs_side_by_side(tmp_path):
    """Hydra ends such a sweep with the failed job's error, before the callbacks' end of a sweep: it ended without
    its table."""
    sweep = tmp_path / "sweep"
    result = run_script("train.py", "-m", "model=gan", *TINY_MODEL["gan"], *TINY_RUN, "model.generator.latent_dim=100,0",
                        f"hydra.sweep.dir={sweep}")
    assert result.returncode == 1
    assert "error: job #1 of the sweep failed: model.generator.latent_dim=0 is not allowed" in result.stderr
    lines = result.stdout.splitlines()
    table = compare([sweep]).splitlines()
    assert lines[lines.index(f"sweep done, with a failed job: 2 runs in {sweep}") + 1:][:len(table)] == table
    assert [row.split(" | ")[1:3] for row in table[2:]] == [["model.generator.latent_dim=100", "8"],
                                                            ["model.generator.latent_dim=0", "none logged"]]


def test_the_sweep_summary_heeds_failed_jobs_of_a_sweep_alone():
    """Hydra calls on_job_end for a single run too: a failed one must not leave a sweep's exit work behind."""
    from hydra.core.utils import JobReturn, JobStatus

    from gan_digits.sweep_summary import SweepSummary

    summary = SweepSummary()
    summary.on_job_end(config=None, job_return=JobReturn(status=JobStatus.FAILED))
    assert not summary.a_job_failed


def test_a_sweep_ends_with_its_runs_side_by_side_and_the_commands_that_show_them(tmp_path):
    """Each job's closing lines scrolled away behind the next job's, and nothing named the sweep's folder."""
    sweep = tmp_path / "sweep"
    result = run_script("train.py", "-m", "model=gan", *TINY_MODEL["gan"], *TINY_RUN, "seed=1,2",
                        f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    end = lines[lines.index(f"sweep done: 2 runs in {sweep}") + 1:]
    table = compare([sweep]).splitlines()
    assert end[:len(table)] == table
    assert sorted(row.split(" | ")[1] for row in table[2:]) == ["seed=1", "seed=2"]
    commands = dict(line.strip().split(": ", 1) for line in end[len(table):])
    assert list(commands) == ["sample the best", "compare them", "mean over seeds", "plot them", "TensorBoard"]
    best = Path(table[2].strip("| ").split(" | ")[0])  # the lowest val/fid first
    assert shlex.split(commands["sample the best"])[1:] == ["sample.py", f"ckpt={best / 'checkpoints' / 'last.ckpt'}"]
    assert shlex.split(commands["compare them"])[1:] == ["-m", "gan_digits.compare", str(sweep)]
    assert shlex.split(commands["mean over seeds"])[1:] == ["-m", "gan_digits.compare", str(sweep), "--mean-over", "seed"]
    assert shlex.split(commands["plot them"])[1:] == ["-m", "gan_digits.plot", str(sweep), "--out", str(sweep / "curves.png")]
    assert shlex.split(commands["TensorBoard"])[1:] == ["--logdir", str(sweep)]
    assert "Directory watcher" not in result.stdout + result.stderr  # TensorBoard's reader, at INFO


def test_unknown_key_is_named_with_the_key_meant_before_importing_torch():
    # Hydra said "Key 'batchsize' is not in struct" and to add it with a +, which nothing would read.
    result = run_script("-X", "importtime", "train.py", "data.batchsize=8")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: data.batchsize=8 is not allowed: data has no key batchsize (did you mean data.batch_size?)")
    assert "torch" not in imported_modules(result.stderr)


@pytest.mark.parametrize("argv,message", [
    (["max_epochs=3"], "max_epochs=3 is not allowed: the config has no key max_epochs (did you mean trainer.max_epochs?)"),
    (["model=gan", "model.generatr.hidden=[8]"],  # the section misspelt: the key meant in full
     "model.generatr.hidden=[8] is not allowed: model has no key generatr (did you mean model.generator.hidden?)"),
    (["-m", "model=gan,dcgan", "trainer.max_epoh=1,2"],  # a sweep: its first job, as Hydra composes every job
     "trainer.max_epoh=1,2 is not allowed: trainer has no key max_epoh (did you mean trainer.max_epochs?)"),
    (["-m", "model=gan,dcgann", "trainer.max_epochs=1,2"],  # a group's option in a later job: Hydra's 13 lines
     "model=dcgann is not allowed: expected one of cdcgan, cdcgan_tf, dcgan, dcgan_tf, gan (did you mean dcgan?)"),
    (["-m", "model=gan,dcgan", "model.generator.hidden=[8]"],  # a key one of the models lacks: Hydra said to add it
     "model.generator.hidden=[8] is not allowed with model=dcgan: model.generator has no key hidden (did you mean "
     "model.discriminator.hidden?)"),
    (["trainer.accumulate_grad_batches=2"],  # a Trainer argument conf/ leaves out: Hydra's + is the way
     "trainer.accumulate_grad_batches=2 is not allowed: trainer has no key accumulate_grad_batches (a key the config "
     "files leave out is added with a +, for the class built there to take or refuse: +trainer.accumulate_grad_batches=2)"),
    (["--config-dir", str(ROOT / "tests"), "trainer.max_epoh=1"],  # a folder of the user's: on Hydra's search path
     "trainer.max_epoh=1 is not allowed: trainer has no key max_epoh (did you mean trainer.max_epochs?)"),
    (["trainer.logger=false"],  # a config group of the same name: was "did you mean logger?", a key to set
     "trainer.logger=false is not allowed: trainer has no key logger (did you mean the logger config group: "
     "logger=<option>?)"),
    (["trainer.callbacks.quality.n=3"], "trainer.callbacks.quality.n=3 is not allowed: trainer has no key callbacks "
                                        "(did you mean callbacks.quality.n?)"),  # a key below the group: the key
    # a key set where a ~ deletes it (in either order), and a ~ of a key no config has: Hydra's five lines, or its
    # "Could not delete from config"
    (["callbacks.quality.n=1000", "~callbacks"],
     "callbacks.quality.n=1000 is not allowed with ~callbacks: it sets a key in callbacks, which ~callbacks deletes"),
    (["~trainer.max_epochs", "trainer.max_epochs=3"],
     "trainer.max_epochs=3 is not allowed with ~trainer.max_epochs: it sets trainer.max_epochs, which ~trainer.max_epochs "
     "deletes"),
    (["~trainer.max_epoch"], "~trainer.max_epoch is not allowed: trainer has no key max_epoch (did you mean "
                             "trainer.max_epochs?)"),
    (["~ckpt_path"], "~ckpt_path is not allowed: ckpt_path is null already, nothing to delete"),  # "does not exist"
    (["zzz=1"], "zzz=1 is not allowed: the config has no key zzz (the keys beside it: seed, "
                "float32_matmul_precision, optimized_metric, ckpt_path, metrics, paths, model, data, trainer, callbacks, "
                "logger)"),
])
def test_a_key_no_config_has_is_named_with_the_key_meant(argv, message):
    from gan_digits.checks import ConfigError
    from gan_digits.command_line import check_known_keys

    with pytest.raises(ConfigError) as caught:
        check_known_keys(argv, ROOT / "conf", "train")
    assert str(caught.value) == message
    check_known_keys(["-m", "model=gan,dcgan", "+trainer.accumulate_grad_batches=2", "trainer.max_epochs=1",
                      "~callbacks.sample_grid"], ROOT / "conf", "train")  # known keys, or added with +: Hydra's to compose
    check_known_keys(["--config-name", "mine", "zzz=1"], ROOT / "conf", "train")  # no such config: Hydra says so
    check_known_keys(["--config-path", "elsewhere", "zzz=1"], ROOT / "conf", "train")  # another primary folder


def test_a_key_added_that_nothing_reads_is_named_before_importing_torch(tmp_path):
    # Hydra takes any key after a +, and the run went on without it.
    result = run_script("-X", "importtime", "train.py", "+max_epochs=1", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: max_epochs=1 is not allowed: nothing reads max_epochs, which a + added (did you mean trainer.max_epochs?)")
    assert "torch" not in imported_modules(result.stderr)
    result = run_script("sample.py", "ckpt=last.ckpt", "+num=3")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: num=3 is not allowed: nothing reads num, which a + added (the keys beside it: ckpt, mode, out, n, seed, "
        "digits, codes, columns, a, b, steps, op, scale, data_root)"]


@pytest.mark.parametrize("override,message", [
    ("+metrics.fid=1", "metrics.fid=1 is not allowed: nothing reads metrics.fid, which a + added (the keys beside it: "
                       "metrics.backbone, metrics.inception_weights)"),
    ("+lr=0.1", "lr=0.1 is not allowed: nothing reads lr, which a + added (did you mean model.g_optimizer.lr or "
                "model.d_optimizer.lr?)"),
    ("++seeds=[1,2]", "seeds=[1, 2] is not allowed: nothing reads seeds, which a + added (did you mean seed?)"),
    ("+zzz=1", "zzz=1 is not allowed: nothing reads zzz, which a + added (the keys beside it: seed, "
               "float32_matmul_precision, optimized_metric, ckpt_path, metrics, paths)"),
])
def test_a_key_added_where_nothing_reads_it_is_named_with_what_is_there(tmp_path, override, message):
    from gan_digits.checks import ConfigError
    from gan_digits.command_line import check_added_keys

    groups = ("model", "data", "trainer", "callbacks", "logger", "accelerator", "hparams_search", "launcher")
    fine = ["+model.loss.real_label=0.9", "+callbacks.extra={_target_:lightning.pytorch.callbacks.Timer}", "+paths={x:1}"]
    check_added_keys(compose_train("gan", fine, output_dir=tmp_path), fine, groups)  # read by what they build, or a merge
    with pytest.raises(ConfigError) as caught:
        check_added_keys(compose_train("gan", [override], output_dir=tmp_path), [override], groups)
    assert str(caught.value) == message


@pytest.mark.parametrize("override,message", [
    ("paths=null", "paths=null is not allowed: trainer.default_root_dir reads paths.output_dir from it"),
    ("metrics=null", "metrics=null is not allowed: callbacks.quality.backbone reads metrics.backbone from it"),
    ("seed=${nope}", "seed does not resolve: Interpolation key 'nope' not found"),
])
def test_a_section_others_read_from_set_to_null_is_named(override, message):
    """OmegaConf's traceback named where the interpolation failed, not what the user set."""
    from gan_digits.checks import ConfigError
    from gan_digits.command_line import check_filled

    cfg = compose_train("gan", [override])
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # as the task function gets it
    with pytest.raises(ConfigError) as caught:
        check_filled(cfg)
    assert str(caught.value) == message


def test_bad_values_fail_before_any_work_in_one_line(tmp_path):
    """As a user sees it; which values are refused, and how, is tested in-process (test_resilience.py)."""
    result = run_script(str(ROOT / "train.py"), *TINY_CLI, "data.batch_size=0", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == ("error: data.batch_size=0 is not allowed: expected an integer >= 2 "
                                                      "(batch norm needs two digits or more a batch)")
    assert list(tmp_path.glob("outputs/*/*")) == []  # the folder Hydra named for it, removed with its .hydra


def test_missing_data_offline_names_the_path(tmp_path):
    """In-process: test_bad_values_fail_before_any_work_in_one_line runs train.py on such an error (exit 2)."""
    from gan_digits.data.idx import MNISTFileError
    from gan_digits.training import train

    cfg = compose_train("gan", [f"data.root={tmp_path}", "data.download=false"], output_dir=tmp_path / "run")
    missing = re.escape(f"MNIST file missing: neither {tmp_path}/MNIST/raw/train-images-idx3-ubyte nor its .gz exists")
    with pytest.raises(MNISTFileError, match=f"^{missing}"):
        train(cfg)
