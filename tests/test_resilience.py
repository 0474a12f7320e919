"""Runs that survive: signals, resume, divergence, unsafe checkpoints, bad values."""

import errno
import logging
import re
import shlex
import signal

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate

from conftest import ROOT, TINY_MODEL, compose_train, probe_env, run_script
from gan_digits import module as gan_module
from gan_digits.callbacks import DivergenceError
from gan_digits.checkpoint import CheckpointError
from gan_digits.checks import ConfigError, report_user_errors
from gan_digits.data import MNISTFileError
from gan_digits.losses import BCELoss
from gan_digits.run_log import HANDLER, RunLogFile
from gan_digits.training import build, train
from test_cli import TINY_CLI
from test_sampling import _Payload

# 8 batches an epoch, 12 batches in all: a kill at batch 3 lands mid-epoch.
LONG = [a for a in TINY_CLI if not a.startswith(("data.subset", "trainer.max_epochs"))] + [
    "data.subset=256", "trainer.max_steps=24"]


def _weights(run_dir):
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_a_checkpoint_exits_nonzero_and_resume_finishes(tmp_path, signum):
    run = tmp_path / "run"
    args = ["train.py", "model=dcgan", *TINY_MODEL["dcgan"], *LONG, f"hydra.run.dir={run}"]
    kill = ["+callbacks.kill._target_=rank_probe.SendSignal", "+callbacks.kill.at_batch=3",
            f"+callbacks.kill.signum={int(signum)}"]
    killed = run_script(*args, *kill, env=probe_env())
    assert killed.returncode == 128 + signum, killed.stderr[-2000:]
    # The signal came after batch 3's callbacks had run the check: batch 4 completes, then the save. To resume, the
    # run's own command in its dir: it said ckpt_path=<file>, which alone resumed the default model (cdcgan) and failed.
    resume = shlex.join([*args[:-1], *kill, f"hydra.run.dir={run}", "ckpt_path=last"])
    assert re.search(rf"{signal.Signals(signum).name} received: saved {run}/checkpoints/last.ckpt at step 8; resume it "
                     rf"with: \S*python\S* {re.escape(resume)}\n", killed.stderr), killed.stderr[-2000:]
    assert _weights(run)["global_step"] == 8
    assert "`weights_only` was not set" not in killed.stderr  # Lightning's line when the save did not say

    if signum == signal.SIGTERM:  # resuming is the same after either (kept short: the suite runs on 2 cores)
        resumed = run_script(*args, "ckpt_path=last")
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert _weights(run)["global_step"] == 24


@pytest.mark.parametrize("signum, launcher, ranks, at_batch", [
    (signal.SIGTERM, True, False, 1),  # killed the spawning process; the ranks saved on the SIGINT its death sent
    (signal.SIGINT, False, True, 1),   # the ranks saved; the spawning process: a ProcessExitedException traceback
    (signal.SIGINT, True, False, 2),   # (as `timeout -s INT` sends it) the ranks never knew; here they save
], ids=["sigterm-to-the-command", "sigint-to-the-ranks", "sigint-to-the-command"])
def test_spawned_ranks_save_on_a_signal_and_the_run_ends_with_its_code(tmp_path, signum, launcher, ranks, at_batch):
    """`ddp_spawn` (and a `-m` sweep's ranks): the process that spawned the ranks only waits for them; it passes
    each signal on to them, and ends with the code they end with, 128 + the signal, in one line."""
    run = tmp_path / "run"
    result = run_script(
        "train.py", "model=gan", *TINY_MODEL["gan"], *TINY_CLI, "trainer.strategy=ddp_spawn", "accelerator=ddp_cpu",
        "trainer.max_epochs=3", "+callbacks.signal._target_=rank_probe.SignalLauncher", f"+callbacks.signal.at_batch={at_batch}",
        f"+callbacks.signal.signum={int(signum)}", f"+callbacks.signal.launcher={str(launcher).lower()}",
        f"+callbacks.signal.ranks={str(ranks).lower()}", f"hydra.run.dir={run}", env=probe_env(),
    )
    assert result.returncode == 128 + signum, result.stderr[-3000:]
    step = 2 * at_batch + 2  # the ranks stop together at the batch after the signal
    name = signal.Signals(signum).name
    assert f"{name} received: saved {run / 'checkpoints' / 'last.ckpt'} at step {step}" in result.stdout + result.stderr
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == step
    assert "Traceback" not in result.stderr and "Terminating process" not in result.stderr


def test_ctrl_c_during_start_up_ends_in_one_line(tmp_path):
    killed = run_script("train.py", f"hydra.run.dir={tmp_path / 'run'}",
                        "+hydra.callbacks.ctrl_c._target_=ctrl_c_probe.CtrlCAtStart", env=probe_env())
    assert killed.returncode == 130  # was a KeyboardInterrupt traceback
    assert killed.stderr.strip().splitlines() == ["interrupted"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_before_training_begins_exits_with_its_code(tmp_path, signum):
    """In the sanity check, once Lightning's own handlers are in place (callbacks.stop_on_signal's come at the first
    batch): Lightning ended a SIGTERM with 0, a scheduler's "finished", and a Ctrl-C with 1."""
    lean = ["~callbacks.quality", "~callbacks.best_checkpoint"]  # no classifier to load for a run that never trains
    cfg = compose_train("gan", ["trainer.num_sanity_val_steps=1", "+callbacks.kill._target_=rank_probe.SignalInSanityCheck",
                                "+callbacks.kill.at_batch=0", f"+callbacks.kill.signum={int(signum)}", *lean],
                        output_dir=tmp_path)
    try:
        with pytest.raises(SystemExit) as stopped:
            train(cfg)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Lightning ignores Ctrl-C once it has one
    assert stopped.value.code == 128 + signum
    assert not (tmp_path / "checkpoints").exists()  # nothing trained, nothing saved


def test_a_second_ctrl_c_stops_at_once_with_the_code_of_the_first(tmp_path):
    run = tmp_path / "run"
    twice = [f"+callbacks.{name}._target_=rank_probe.SendSignal" for name in ("ctrl_c", "again")] + [
        f"+callbacks.{name}.{key}={value}" for name in ("ctrl_c", "again") for key, value in
        (("at_batch", 3), ("signum", int(signal.SIGINT)))]
    killed = run_script("train.py", "model=dcgan", *TINY_MODEL["dcgan"], *LONG, f"hydra.run.dir={run}", *twice,
                        env=probe_env())
    assert killed.returncode == 130, killed.stderr[-2000:]  # was Lightning's 1
    assert "received: saved" not in killed.stderr and not (run / "checkpoints" / "last.ckpt").exists()


@pytest.mark.parametrize("stop_at", [8, 6], ids=["end-of-epoch", "mid-epoch"])
def test_resume_equals_uninterrupted(tmp_path, stop_at, monkeypatch):
    """4 batches an epoch: stop after 4 (end of epoch) or 3 (mid-epoch), resume to 8 batches.
    The resumed run takes dcgan's clusters from the checkpoint instead of fitting them again, and steps
    the learning-rate schedule once an epoch (replaying the end of epoch 0, it stepped it twice)."""
    decay = "model.scheduler={_target_:torch.optim.lr_scheduler.ExponentialLR,_partial_:true,gamma:0.5}"
    whole = train(compose_train("dcgan", [decay, "trainer.max_steps=16"], output_dir=tmp_path / "whole"))
    train(compose_train("dcgan", [decay, f"trainer.max_steps={stop_at}"], output_dir=tmp_path / "half"))
    fits = []
    monkeypatch.setattr(gan_module, "fit_clusters", lambda *args: fits.append(args))
    resumed = train(compose_train("dcgan", [decay, "trainer.max_steps=16", "ckpt_path=last"], output_dir=tmp_path / "half"))
    assert fits == []
    for name in ("train/d_loss", "train/g_loss", "val/d_loss"):
        assert resumed[name] == whole[name], name
    a, b = _weights(tmp_path / "whole"), _weights(tmp_path / "half")
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert [s["param_groups"][0]["lr"] for s in b["optimizer_states"]] == [4e-4 * 0.5**2] * 2
    assert a["lr_schedulers"] == b["lr_schedulers"]
    # The epochs and batches counted (Lightning counted the saved epoch twice under max_steps); its count of the
    # validation batches run over the whole fit is its own bookkeeping, reset in some restarts and not others.
    counted = [{k: v for k, v in run["loops"]["fit_loop"].items() if k != "epoch_loop.val_loop.batch_progress"} for run in (a, b)]
    assert counted[0] == counted[1]
    # And the same best checkpoint, one: the resumed run knew which one it was (last.ckpt holds its state).
    best = {run: sorted(p.name for p in (tmp_path / run / "checkpoints").glob("epoch*.ckpt"))
            for run in ("whole", "half")}
    assert best["half"] == best["whole"] and len(best["whole"]) == 1


@pytest.mark.parametrize("stop_at, resume", [
    (8, "trainer.max_steps=16"),   # a whole epoch, resumed under max_steps: counted again, so nothing trained
    (6, "trainer.max_steps=100"),  # an epoch cut short by max_steps, resumed under max_steps: counted twice (step 8)
    (6, "trainer.max_steps=-1"),   # ... resumed without: the rest of that epoch left out (step 14)
], ids=["whole-epoch", "cut-epoch", "cut-epoch-no-max-steps"])
def test_a_run_resumed_from_an_epochs_end_trains_to_max_epochs(tmp_path, stop_at, resume):
    """Lightning issue #19617: a last.ckpt saved at an epoch's end (or where max_steps cut one short) resumed with a
    trainer.max_epochs bound ended the run early, and said only `done: step 8`."""
    train(compose_train("gan", [f"trainer.max_steps={stop_at}"], output_dir=tmp_path))  # 4 batches an epoch
    train(compose_train("gan", ["trainer.max_epochs=2", resume, "ckpt_path=last"], output_dir=tmp_path))
    saved = _weights(tmp_path)
    assert (saved["global_step"], saved["epoch"]) == (16, 1)  # 2 epochs of 4 batches, 2 steps each


def test_a_run_resumed_mid_epoch_counts_that_epoch_on_its_bar_without_lightnings_warning(tmp_path, capsys, recwarn):
    """Lightning skips the hook that names the epoch and its length when a run resumes inside it: the bar read
    `Training: 4/?` for the rest of it (callbacks/progress_bar.py); and it warned the resume was unreliable,
    though the sampler goes on with the batches not yet trained (test_resume_equals_uninterrupted)."""
    bar = ["trainer.enable_progress_bar=true", "callbacks.progress_bar.refresh_rate=1"]
    train(compose_train("gan", [*bar, "trainer.max_steps=6"], output_dir=tmp_path))  # 3 of the epoch's 4 batches
    capsys.readouterr()
    train(compose_train("gan", [*bar, "trainer.max_steps=16", "ckpt_path=last"], output_dir=tmp_path))
    shown = capsys.readouterr().out  # where Lightning's bar writes
    assert re.search(r"Epoch 0: 100%\S* 4/4 ", shown) and re.search(r"Epoch 1: 100%\S* 4/4 ", shown), shown[-2000:]
    assert not re.search(r"Training: \S* [1-9]\d*/\?", shown), shown[-2000:]
    assert not [w for w in recwarn if "resuming from a checkpoint that ended before the epoch" in str(w.message)]


def test_a_fresh_run_into_an_earlier_runs_folder_is_refused_and_a_requeued_job_resumes_it(tmp_path, monkeypatch):
    train(compose_train("gan", output_dir=tmp_path))  # train(cfg) from Python: no Hydra callback checks its folder
    with pytest.raises(ConfigError, match=rf"paths.output_dir={tmp_path} already holds a run \(checkpoints/last.ckpt\): "
                                          r"train it on with ckpt_path=last, or train afresh in another folder$"):
        train(compose_train("gan", ["trainer.max_steps=16"], output_dir=tmp_path))
    assert _weights(tmp_path)["global_step"] == 8  # untouched
    # SLURM runs a requeued job's command again, without ckpt_path: it trains its own run on (it started afresh).
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    train(compose_train("gan", ["trainer.max_steps=16"], output_dir=tmp_path))
    assert _weights(tmp_path)["global_step"] == 16


def test_train_from_python_names_the_folder_it_needs(monkeypatch):
    monkeypatch.setattr(HydraConfig.instance(), "cfg", None)  # as in a notebook: no Hydra run, so no run dir
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["model=gan"])
    with pytest.raises(ConfigError, match=r"paths.output_dir must be set: .*overrides=\[..., \"paths.output_dir=runs/mine\"\]"):
        train(cfg)  # was omegaconf's InterpolationResolutionError: "HydraConfig was not set"


def test_resume_last_without_a_checkpoint_fails_clearly(tmp_path):
    with pytest.raises(ConfigError, match=r"ckpt_path=last: there is no .*checkpoints/last.ckpt to resume"):
        train(compose_train("dcgan", ["ckpt_path=last"], output_dir=tmp_path))


def test_resume_from_best_names_the_file_to_give(tmp_path, monkeypatch):
    """Lightning's fit takes last, hpc or a path: `best` (what validate and test take) said `checkpoint not found:
    <cwd>/best`."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^ckpt_path=best is not allowed: expected last \(hydra.run.dir=<a run's dir> "
                                          r"ckpt_path=last\) or a checkpoint's path; .* ckpt_path=<that run's dir>/"
                                          r"checkpoints/epoch<E>-fid<F>.ckpt$"):
        train(compose_train("dcgan", ["ckpt_path=best"], output_dir=tmp_path / "run"))


def test_resume_with_another_models_checkpoint_names_both_and_what_to_give(tmp_path, trained):
    """The message said to give "the model= and overrides the checkpoint was trained with", which it did not name."""
    ckpt = trained["gan"] / "checkpoints" / "last.ckpt"
    with pytest.raises(CheckpointError, match=r"holds a different generator than this run builds.*MLPGenerator.*"
                                              r"DCGANGenerator.*\. To resume it, give model=gan "
                                              r"'model.generator.hidden=\[32, 64\]' 'model.discriminator.hidden=\[64, 32\]'$"):
        train(compose_train("dcgan", [f"ckpt_path={ckpt}"], output_dir=tmp_path))


@pytest.mark.parametrize("max_steps, head", [
    (8, r"done: nothing trained: the checkpoint is at step 8 \(4 batches\), where trainer.max_steps=8 ends the run: "
        r"raise it to train on\n"),
    (10, r"done: step 10 \(5 batches\) after 0 min \d+ s of training\n  latest val: +none: the run ended before")])
def test_a_resume_into_another_folder_without_a_validation_ends_on_its_summary(tmp_path, trained, caplog, max_steps, head):
    """Resumed into another folder, Lightning keeps the best checkpoint's path but not its score: the summary
    crashed (float(None)) after the run had trained without a validation (10: one batch into the next epoch), or
    had nothing to train (8), where it now says so."""
    caplog.set_level(logging.INFO)
    ckpt = trained["gan"] / "checkpoints" / "last.ckpt"
    train(compose_train("gan", [f"ckpt_path={ckpt}", f"trainer.max_steps={max_steps}"], output_dir=tmp_path))
    best = next((trained["gan"] / "checkpoints").glob("epoch*.ckpt"))
    assert re.search(head, caplog.text) and f"\n  best val/fid: {best}\n" in caplog.text, caplog.text[-1500:]


def test_a_resume_into_another_folder_keeps_its_own_best_and_leaves_the_first_as_it_was(tmp_path, trained, recwarn):
    """As the README says, without Lightning's warning that the best's score is not carried over."""
    first = trained["gan"] / "checkpoints"
    before = {p.name: p.stat().st_mtime_ns for p in first.iterdir()}
    train(compose_train("gan", [f"ckpt_path={first / 'last.ckpt'}", "trainer.max_steps=16"], output_dir=tmp_path))
    assert {p.name: p.stat().st_mtime_ns for p in first.iterdir()} == before
    assert len(list((tmp_path / "checkpoints").glob("epoch01-fid*.ckpt"))) == 1  # its one validation, epoch 1
    assert not [w for w in recwarn if "dirpath has changed" in str(w.message)]


@pytest.mark.parametrize("bound, end", [("trainer.max_steps=8", r"trainer.max_steps=8 ends the run"),
                                        # ... said only `done: step 8` (max_epochs was read only without max_steps):
                                        ("trainer.max_epochs=1", r"trainer.max_epochs=1 ends the run"),
                                        ("trainer.max_time=00:00:00:00", r"trainer.max_time ends the run \(0:00:00 trained "
                                                                         r"already\)")])
def test_a_resume_at_its_bound_says_nothing_was_trained(tmp_path, caplog, bound, end):
    train(compose_train("gan", output_dir=tmp_path))  # 8 steps
    caplog.set_level(logging.INFO)
    train(compose_train("gan", ["ckpt_path=last", "trainer.max_steps=16", bound], output_dir=tmp_path))
    assert re.search(rf"done: nothing trained: the checkpoint is at step 8 \(4 batches\), where {end}: raise it to "
                     r"train on\n  outputs:", caplog.text)  # no "latest val: none" row


def test_resume_trains_with_the_configs_optimizer_and_scheduler_settings(tmp_path, caplog):
    """Lightning restores the optimizers' and schedulers' settings with their states: a changed rate was ignored."""
    schedule = "model.scheduler={_target_:torch.optim.lr_scheduler.ExponentialLR,_partial_:true,gamma:0.5}"
    train(compose_train("gan", [schedule], output_dir=tmp_path / "first"))
    ckpt = tmp_path / "first" / "checkpoints" / "last.ckpt"
    changes = ["model.g_optimizer.lr=1e-5", "model.d_optimizer.betas=[0.0,0.9]", "model.scheduler.gamma=0.9"]
    with caplog.at_level(logging.INFO):
        train(compose_train("gan", [schedule, *changes, f"ckpt_path={ckpt}", "trainer.max_steps=16"],
                            output_dir=tmp_path / "resumed"))
    saved = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=True)
    g, d = (state["param_groups"][0] for state in saved["optimizer_states"])
    # One more epoch, so one more scheduler step each: at the new gamma, from the new rate where one was given.
    assert g["lr"] == pytest.approx(1e-5 * 0.9) and d["lr"] == pytest.approx(2e-4 * 0.5 * 0.9)
    assert tuple(g["betas"]) == (0.5, 0.999) and tuple(d["betas"]) == (0.0, 0.9)
    assert [state["gamma"] for state in saved["lr_schedulers"]] == [0.9, 0.9]
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("resumed with ")]
    assert said == [f"resumed with {line}: this run's setting from here on" for line in (
        "model.g_optimizer.lr=1e-05 (the checkpoint's: 0.0002)", "model.d_optimizer.betas=(0.0, 0.9) (the "
        "checkpoint's: [0.5, 0.999])", "model.scheduler.gamma=0.9 (the checkpoint's: 0.5)")]
    # Another kind of optimizer or scheduler would get a state that is not its own.
    for other in ("model.g_optimizer._target_=torch.optim.AdamW", "model.scheduler._target_=torch.optim.lr_scheduler.StepLR"):
        with pytest.raises(CheckpointError, match=r"was trained with model.(g_optimizer|scheduler)._target_=torch.optim."
                                                  r".*, this run asks for .*: a resumed run restores its state"):
            train(compose_train("gan", [schedule, other, f"ckpt_path={ckpt}"], output_dir=tmp_path / "other"))


def test_a_resume_with_another_fixed_noise_seed_draws_its_grids_from_that_seed(tmp_path, caplog):
    """The grids' noise is a buffer saved with the weights: a resume given model.fixed_noise_seed=7 drew the
    checkpoint's seed-0 noise without a word, while its config and HPARAMS said 7."""
    train(compose_train("gan", output_dir=tmp_path))
    with caplog.at_level(logging.INFO):
        train(compose_train("gan", ["ckpt_path=last", "trainer.max_steps=16", "model.fixed_noise_seed=7"],
                            output_dir=tmp_path))
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("resumed with ")]
    assert said == ["resumed with model.fixed_noise_seed=7 (the checkpoint's: 0): this run's setting from here on"]
    fixed_z = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]["fixed_z"]
    seeded = {seed: instantiate(compose_train("gan", [f"model.fixed_noise_seed={seed}"]).model).fixed_z for seed in (0, 7)}
    assert torch.equal(fixed_z, seeded[7]) and not torch.equal(fixed_z, seeded[0])


def test_resume_says_the_modules_own_settings_it_changes_and_refuses_to_add_or_drop_the_ema(tmp_path, caplog):
    """A resume that left out `experiment=lsgan` went on with BCE without a word; one that dropped the EMA of G
    ended on load_state_dict's traceback (unexpected keys generator_ema.*)."""
    train(compose_train("gan", ["experiment=lsgan"], output_dir=tmp_path))
    with caplog.at_level(logging.INFO):
        train(compose_train("gan", ["ckpt_path=last", "trainer.max_steps=16", "model.ema_decay=0.99"], output_dir=tmp_path))
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("resumed with ")]
    assert said == [f"resumed with {line}: this run's setting from here on" for line in (
        "model.loss._target_='gan_digits.losses.BCELoss' (the checkpoint's: 'gan_digits.losses.LeastSquaresLoss')",
        "model.ema_decay=0.99 (the checkpoint's: 0.999)")]
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    with pytest.raises(CheckpointError, match=rf"^{ckpt} holds an EMA of G, and this run keeps none \(model.ema_decay="
                                              r"null\): a resumed run restores the checkpoint's weights; give "
                                              r"model.ema_decay=0.99$"):
        train(compose_train("gan", ["ckpt_path=last", "trainer.max_steps=24", "model.ema_decay=null"], output_dir=tmp_path))


def test_resume_refuses_pickled_code_and_truncated_files(tmp_path, trained):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    torch.save({"gan_digits": {"format_version": 1, "model": {}}, "payload": _Payload(str(marker))}, evil)
    with pytest.raises(CheckpointError, match="refusing to load"):
        train(compose_train("dcgan", [f"ckpt_path={evil}"], output_dir=tmp_path / "a"))
    assert not marker.exists()
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes((trained["dcgan"] / "checkpoints" / "last.ckpt").read_bytes()[:50_000])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        train(compose_train("dcgan", [f"ckpt_path={truncated}"], output_dir=tmp_path / "b"))


def test_disk_full_mid_write_leaves_the_old_checkpoint_whole_and_says_so(tmp_path, monkeypatch, capsys):
    import fsspec.implementations.local as local

    datamodule, module, trainer = build(compose_train("dcgan", output_dir=tmp_path))
    trainer.fit(module, datamodule=datamodule)
    last = tmp_path / "checkpoints" / "last.ckpt"
    before = last.read_bytes()

    def fail_midway(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(local.LocalFileOpener, "write", fail_midway)
    run_log = RunLogFile(tmp_path / "train.log")  # the run's log, on the same full disk
    run_log.set_name(HANDLER)
    run_log.stream.close()
    run_log.stream = type("FullDisk", (), {"write": fail_midway, "flush": lambda self: None})()
    logging.getLogger().addHandler(run_log)
    try:
        with pytest.raises(SystemExit) as stopped:  # as train.py reports it: one line, exit 1
            report_user_errors(trainer.save_checkpoint)(last)
    finally:
        logging.getLogger().removeHandler(run_log)
    assert stopped.value.code == 1
    printed = capsys.readouterr().err  # the one line, no "--- Logging error ---" traceback after it
    assert printed.startswith("error: the disk is full (No space left on device). Checkpoints are")
    assert printed.count("\n") == 1, printed
    assert last.read_bytes() == before
    assert sorted(p.name for p in last.parent.iterdir() if "last" in p.name) == ["last.ckpt"]


def _nan_generator_loss(monkeypatch, at_calls):
    calls = {"n": 0}
    original = BCELoss.generator

    def maybe_nan(self, fake_logits):
        calls["n"] += 1
        loss = original(self, fake_logits)
        return loss * float("nan") if calls["n"] in at_calls else loss

    monkeypatch.setattr(BCELoss, "generator", maybe_nan)


GUARD = ["callbacks.divergence.every_n_batches=1", "trainer.max_steps=16"]


def test_nan_loss_stops_the_run_naming_the_step(tmp_path, monkeypatch):
    _nan_generator_loss(monkeypatch, at_calls=range(3, 1000))
    with pytest.raises(DivergenceError, match=r"train/g_loss is nan at step 6: stopped"):
        train(compose_train("dcgan", GUARD, output_dir=tmp_path))


def test_nan_loss_rolls_back_to_the_last_checkpoint(tmp_path, monkeypatch):
    _nan_generator_loss(monkeypatch, at_calls={6})  # in the second epoch, after last.ckpt exists
    cfg = compose_train("dcgan", [*GUARD, "callbacks.divergence.action=rollback"], output_dir=tmp_path)
    datamodule, module, trainer = build(cfg)
    trainer.fit(module, datamodule=datamodule)
    guard = next(c for c in trainer.callbacks if type(c).__name__ == "DivergenceGuard")
    assert guard.rollbacks == 1 and trainer.global_step == 16
    assert all(torch.isfinite(p).all() for p in module.parameters())


def test_a_nan_between_checks_is_caught_before_the_epochs_checkpoint(tmp_path, monkeypatch):
    """Checked every 10 batches, weights gone NaN in an epoch of 4 were saved into last.ckpt at the epoch's end,
    the checkpoint a rollback returns to; the run ended `done` with NaN weights."""
    _nan_generator_loss(monkeypatch, at_calls={6})  # the second epoch's first batch, after last.ckpt exists
    cfg = compose_train("dcgan", ["callbacks.divergence.every_n_batches=10", "trainer.max_steps=16",
                                  "callbacks.divergence.action=rollback"], output_dir=tmp_path)
    datamodule, module, trainer = build(cfg)
    trainer.fit(module, datamodule=datamodule)
    guard = next(c for c in trainer.callbacks if type(c).__name__ == "DivergenceGuard")
    assert guard.rollbacks == 1 and trainer.global_step == 16
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 16
    assert all(torch.isfinite(v).all() for v in saved["state_dict"].values() if v.is_floating_point())
    assert all(torch.isfinite(p).all() for p in module.parameters())


def test_collapsed_discriminator_is_caught(tmp_path):
    from gan_digits.callbacks import DivergenceGuard

    guard = DivergenceGuard(str(tmp_path), patience=3)
    won = {"train/d_real": torch.tensor(0.999), "train/d_fake": torch.tensor(0.001)}
    assert guard._problem(won) is None and guard._problem(won) is None
    assert "the discriminator has won for 3 checks in a row" in guard._problem(won)
    assert guard._problem({"train/d_real": torch.tensor(0.7), "train/d_fake": torch.tensor(0.3)}) is None


@pytest.mark.parametrize(
    "override,error,message",
    [
        ("data.batch_size=0", ConfigError, r"data.batch_size=0 is not allowed"),
        ("data.batch_size=-1", ConfigError, r"data.batch_size=-1 is not allowed: expected an integer >= 2"),
        ("data.batch_size=1", ConfigError, r"data.batch_size=1 is not allowed: expected an integer >= 2 \(batch norm needs two"),
        ("data.batch_size=null", ConfigError, r"^data.batch_size=null is not allowed: expected an integer >= 2"),  # said None
        ("data.subset=0", ConfigError, r"data.subset=0 is not allowed: expected an integer from 1 to "),
        ("model.g_optimizer.lr=-0.1", ConfigError, r"model.g_optimizer.lr=-0.1 is not allowed: expected a number > 0"),
        ("model.d_optimizer.lr=0", ConfigError, r"model.d_optimizer.lr=0 is not allowed"),
        ("model.generator.latent_dim=0", ConfigError, r"model.generator.latent_dim=0 is not allowed"),
        ("model.ema_decay=1.5", ConfigError, r"model.ema_decay=1.5 is not allowed: expected a number in \(0, 1\)"),
        ("callbacks.progress_bar.refresh_rate=-1", ConfigError, r"^callbacks.progress_bar.refresh_rate=-1 is not "
                                                                r"allowed: expected an integer >= 0$"),  # no bar, silently
        ("callbacks.model_summary.max_depth=-2", ConfigError, r"^callbacks.model_summary.max_depth=-2 is not allowed: "
                                                              r"expected an integer >= -1 \(-1: every layer, 0: no table\)$"),
        ("+model.loss.real_label=abc", ConfigError, r"^model.loss.real_label='abc' is not allowed: expected a number in "
                                                    r"\(0.5, 1\]$"),  # was '<' not supported between 'float' and 'str'
        ("model.ema_decay=abc", ConfigError, r"^model.ema_decay='abc' is not allowed: expected a number in \(0, 1\), or "
                                             r"null for no EMA$"),  # was '<' not supported between 'float' and 'str'
        ("model.ema_decay=true", ConfigError, r"^model.ema_decay=true is not allowed"),  # said True
        ("callbacks.divergence.action=ignore", ConfigError, r"callbacks.divergence.action='ignore' is not allowed: expected one of stop, rollback"),
        ("model.g_optimizer.betas=[2,0.9]", ConfigError, r"model.g_optimizer is not allowed \(Invalid beta parameter at index 0: 2"),
        ("+model.d_optimizer.momentum=0.9", ConfigError, r"model.d_optimizer is not allowed: Adam takes no momentum: leave it "
                                                         r"out with ~model.d_optimizer.momentum$"),
        # Adam's betas and fused stay in the config when another optimizer is swapped in: named all at once.
        ("model.g_optimizer._target_=torch.optim.RMSprop", ConfigError, r"model.g_optimizer is not allowed: RMSprop takes "
                                                                        r"no betas, fused: leave them out with "
                                                                        r"~model.g_optimizer.betas ~model.g_optimizer.fused$"),
        # ... were Hydra's four-line instantiate error:
        ("+model.generator.foo=1", ConfigError, r"^model.generator config: .*Generator.__init__\(\) got an unexpected "
                                                r"keyword argument 'foo'$"),
        ("data.root=null", ConfigError, r"^data.root=null is not allowed: expected a path$"),  # was a TypeError
        ("ckpt_path=5", ConfigError, r"^ckpt_path=5 is not allowed: expected a path$"),
        ("+data.foo=1", ConfigError, r"^data config: MNISTDataModule.__init__\(\) got an unexpected keyword argument 'foo'$"),
        ("model.g_optimizer._partial_=false", ConfigError, r"^model.g_optimizer config: Adam.__init__\(\) missing 1 required "
                                                           r"positional argument: 'params'$"),
        # ... a class mistyped: Hydra's four lines ("Error locating target ..."), as the run was being built:
        ("model.g_optimizer._target_=torch.optim.Adamm", ConfigError, r"^model.g_optimizer._target_=torch.optim.Adamm is not "
                                                                      r"allowed: torch.optim has no Adamm \(did you mean Adam, "),
        ("callbacks.quality._target_=gan_digits.callbacks.QualityMetric", ConfigError,
         r"^callbacks.quality._target_=gan_digits.callbacks.QualityMetric is not allowed: gan_digits.callbacks has no "
         r"QualityMetric \(did you mean QualityMetrics"),
        ("model.discriminator._target_=gan_digits.nets.tiny.TinyDiscriminator", ConfigError,  # the README's file not written
         r"^model.discriminator._target_=gan_digits.nets.tiny.TinyDiscriminator is not allowed: gan_digits.nets has no tiny$"),
        ("model.g_optimizer.betas=[0.5]", ConfigError, r"^model.g_optimizer.betas=\[0.5\] is not allowed: expected a list of 2 "
                                                       r"\(each a number\)$"),  # was torch's "list index out of range"
        # ... torch's optimizers and schedulers took a value of another type than they declare: a traceback at the first
        # step or the first epoch's end, a string taken for true, a third beta ignored:
        ("+model.g_optimizer.maximize=yes", ConfigError, r"^model.g_optimizer.maximize='yes' is not allowed: expected true or false$"),
        ("model.d_optimizer.fused=abc", ConfigError, r"^model.d_optimizer.fused='abc' is not allowed: expected true, false or null$"),
        ("model.g_optimizer.betas=[0.5,0.9,0.1]", ConfigError, r"^model.g_optimizer.betas=\[0.5, 0.9, 0.1\] is not allowed"),
        ("model.scheduler={_target_:torch.optim.lr_scheduler.StepLR,_partial_:true,step_size:abc}", ConfigError,
         r"^model.scheduler.step_size='abc' is not allowed: expected an integer$"),
        ("model.loss._target_=torch.nn.MSELoss", ConfigError, r"model.loss._target_=torch.nn.modules.loss.MSELoss is not allowed: expected "
                                                              r"gan_digits.losses.BCELoss, HingeLoss, LeastSquaresLoss or another class"),
        ("model.fixed_noise_seed=abc", ConfigError, r"model.fixed_noise_seed='abc' is not allowed: expected an integer >= 0"),
        # ... trained, then no command could sample its checkpoints (they build only gan_digits classes):
        ("model.generator._target_=mynets.Generator", ConfigError, r"^model.generator names mynets.Generator, which is not "
                                                                    r"allowed: checkpoints rebuild their generator from "
                                                                    r"gan_digits classes only"),
        ("model.generator.width=0", ConfigError, r"model.generator.width=0 is not allowed: expected an integer >= 1"),
        ("+model.discriminator.num_classes=-1", ConfigError, r"^model.discriminator.num_classes=-1 is not allowed: expected an "
                                                            r"integer >= 2$"),  # was torch's RuntimeError in Hydra's 4 lines
        # The tiny run scores n=100 generated digits against real_limit=500 test digits, KID in subsets of 50:
        # these failed at the first epoch's end, before its checkpoint (the epoch was lost).
        ("callbacks.quality.n=40", ConfigError, r"callbacks.quality.n=40 is not allowed: expected an integer from 50 to "
                                                r"60000 \(KID draws subsets of kid_subset_size=50 generated digits"),
        # ... drew a billion digits at the first validation, the run seemingly hung:
        ("callbacks.quality.n=1000000000", ConfigError, r"callbacks.quality.n=1000000000 is not allowed: expected an integer "
                                                        r"from 50 to 60000"),
        ("callbacks.quality.kid_subset_size=600", ConfigError, r"callbacks.quality.kid_subset_size=600 is not allowed: "
                                                               r"expected an integer from 4 to 500 \(KID draws subsets of that many of the 500 real"),
        # ... crashed at the first batch, or did nothing without a word:
        ("callbacks.divergence.every_n_batches=0", ConfigError, r"callbacks.divergence.every_n_batches=0 is not allowed"),
        ("callbacks.divergence.d_real_above=1.5", ConfigError, r"callbacks.divergence.d_real_above=1.5 is not allowed: expected a number from 0 to 1"),
        ("callbacks.sample_grid.every_n_steps=-5", ConfigError, r"callbacks.sample_grid.every_n_steps=-5 is not allowed: expected an integer >= 0"),
        ("callbacks.best_checkpoint.mode=lowest", ConfigError, r"callbacks.best_checkpoint config: `mode` can be min, max but got lowest"),
        ("callbacks.best_checkpoint.monitor=val/fdi", ConfigError, r"callbacks.best_checkpoint.monitor=val/fdi is not allowed: "
                                                                   r"this run logs epoch, step, train/d_fake, .*val/fid, .*"
                                                                   r"val/recall$"),
        # ... a checkpoint named with a metric not logged was written as if it were 0 (fid0.00):
        ("callbacks.best_checkpoint.filename='epoch{epoch:02d}-fid{val/fdi:.2f}'", ConfigError,
         r"^callbacks.best_checkpoint.filename='epoch\{epoch:02d\}-fid\{val/fdi:.2f\}' is not allowed: it names val/fdi, "
         r"which this run does not log \(it logs epoch, step, train/d_fake, .*val/fid, .*val/recall\)$"),
        ("optimized_metric=val/fdi", ConfigError, r"optimized_metric=val/fdi is not allowed: this run logs epoch, step, "),  # at the end
        ("~callbacks.quality", ConfigError, r"callbacks.best_checkpoint.monitor=val/fid is not allowed: this run logs .*val/g_loss "
                                            r"\(val/fid and the other quality metrics come from callbacks.quality\)"),
        ("model.discriminator.spectral_norm=yes", ConfigError, r"model.discriminator.spectral_norm='yes' is not allowed: "
                                                               r"expected one of true, false"),  # taken for true
        ("model.discriminator.minibatch_std=on", ConfigError, r"model.discriminator.minibatch_std='on' is not allowed"),
        ("data.seed=abc", ConfigError, r"data.seed='abc' is not allowed: expected an integer >= 0"),  # torch's RuntimeError
        ("callbacks.sample_grid.gif=maybe", ConfigError, r"callbacks.sample_grid.gif='maybe' is not allowed: expected one of "
                                                         r"true, false"),  # taken for true
        ("seed=-1", ConfigError, r"seed=-1 is not allowed: expected an integer from 0 to 4294967295"),
        ("trainer.check_val_every_n_epoch=0", ConfigError, r"trainer.check_val_every_n_epoch=0 is not allowed: expected an "
                                                          r"integer >= 1 \(or null: validate every val_check_interval batches\)"),
        # ... trained with the groups' own, which train() passes in their place: TensorBoard still logged
        ("+trainer.logger=false", ConfigError, r"^trainer.logger=false is not allowed: a run's loggers come from the logger "
                                               r"config group \(logger=tensorboard; ~logger for none\)$"),
        ("+trainer.callbacks=null", ConfigError, r"^trainer.callbacks=null is not allowed: a run's callbacks come from the "
                                                 r"callbacks config group \(callbacks=default or early_stop; ~callbacks for none\)$"),
        # ... Lightning's refusal under manual optimization came once fit had begun, with a traceback:
        ("+trainer.gradient_clip_val=1.0", ConfigError, r"trainer.gradient_clip_val=1.0 is not allowed: the adversarial step "
                                                        r"optimizes by hand \(manual optimization\), where Lightning does not clip"),
        ("+trainer.accumulate_grad_batches=2", ConfigError, r"trainer.accumulate_grad_batches=2 is not allowed: .* Lightning "
                                                            r"does not accumulate gradients: for a larger batch, raise data.batch_size"),
        ("trainer.val_check_interval=1000", ConfigError, r"trainer config: `val_check_interval` \(1000\) must be less than or "
                                                          r"equal to the number of the training batches \(4\)\..*check_val_every_n_epoch=null\)$"),
        # ... trained nothing and said nothing (0), or failed in a traceback once fit had begun (a share under a batch):
        ("trainer.limit_train_batches=0", ConfigError, r"^trainer.limit_train_batches=0 is not allowed: the run would train "
                                                       r"nothing; expected an integer >= 1 \(batches an epoch\), a share"),
        ("trainer.limit_train_batches=0.1", ConfigError, r"^trainer config: You requested to check 0.1 of the `train_dataloader` "
                                                         r"but 0.1 \* 4 < 1\. .* Try at least `limit_train_batches=0.25`$"),
        ("trainer.limit_val_batches=0.001", ConfigError, r"^trainer config: You requested to check 0.001 of the `val_dataloader`"),
        # ... Lightning refused, one at a time, six settings the config keeps on:
        ("trainer.barebones=true", ConfigError, r"^trainer.barebones=true is not allowed: it turns off what a run here is "
                                                r"for .* python bench/lightning_floor.py$"),
        ("trainer.overfit_batches=2", ConfigError, r"trainer.overfit_batches=2 is not allowed: expected 0. To train on a few fixed digits use data.subset=<N>"),
        # ... trained nothing, and said to train on with max_steps=0; or refused it after auto's timing:
        ("trainer.max_steps=0", ConfigError, r"^trainer.max_steps=0 is not allowed: expected an integer >= 1 \(or -1: no limit\)$"),
        ("trainer.max_epochs=0", ConfigError, r"^trainer.max_epochs=0 is not allowed: expected an integer >= 1 \(or -1: no limit\)$"),
        ("trainer.max_epochs=-5", ConfigError, r"^trainer.max_epochs=-5 is not allowed: expected an integer >= 1"),
        # ... Lightning stopped at the max and said nothing:
        ("trainer.min_steps=100", ConfigError, r"^trainer.min_steps=100 is not allowed: more than trainer.max_steps=8, which ends "
                                               r"the run first$"),
        ("trainer.max_time=5", ConfigError, r"trainer.max_time=5 is not allowed: expected DD:HH:MM:SS \(00:00:08:00 for 8 minutes\)"),
        ("trainer.strategy=ddp_find_unused_parameters_false", ConfigError, r"trainer.strategy=ddp_find_unused_parameters_false "
                                                                           r"is not allowed: .* DDP then rejects; expected ddp or auto"),
        # ... Lightning's message did not name the value: "`devices` selected with `CPUAccelerator` should be an int > 0"
        ("trainer.devices=0", ConfigError, r"^trainer.devices=0 is not allowed: on the CPU, expected an integer >= 1 "
                                           r"\(processes, each training on its share of the batches\) or auto \(one\)$"),
        ("trainer.devices=[0,1]", ConfigError, r"^trainer.devices=\[0, 1\] is not allowed: on the CPU, expected an integer >= 1"),
        # ... started 4096 processes on this machine's cores:
        ("trainer.devices=4096", ConfigError, r"^trainer.devices=4096 is not allowed here: on the CPU each device is a "
                                              r"training process .* expected an integer from 1 to \d+$"),
        ("trainer.precision=17", ConfigError, r"trainer config: Precision 17 is invalid. Allowed precision values"),
        # ... cast the nets, and crashed at the first batch on the step's float32 digits and noise:
        ("trainer.precision=16-true", ConfigError, r"trainer.precision=16-true is not allowed: expected auto, 32-true, bf16-mixed or 16-mixed"),
        ("trainer.precision=64", ConfigError, r"trainer.precision=64 is not allowed: expected auto, 32-true, bf16-mixed or 16-mixed"),
        ("data.root=/nonexistent", MNISTFileError, r"MNIST file missing: neither /nonexistent/MNIST/raw/train-images"),
        # ... Lightning took a value of another type than it declares: torch's TypeError once fit had begun, a
        # TypeError or ZeroDivisionError at the first batch or save, or a string taken for true:
        ("trainer.detect_anomaly=0", ConfigError, r"^trainer.detect_anomaly=0 is not allowed: expected true or false$"),
        ("trainer.log_every_n_steps=abc", ConfigError, r"^trainer.log_every_n_steps='abc' is not allowed: expected an integer "
                                                       r"or null$"),
        ("trainer.enable_progress_bar=no", ConfigError, r"^trainer.enable_progress_bar='no' is not allowed: expected true, "
                                                        r"false or null$"),
        ("trainer.deterministic=abc", ConfigError, r"^trainer.deterministic='abc' is not allowed: expected true, false, 'warn' "
                                                   r"or null$"),
        ("trainer.val_check_interval=0", ConfigError, r"^trainer.val_check_interval=0 is not allowed: expected an integer >= 1 "
                                                      r"\(batches; or a share of an epoch from 0.0 to 1.0"),
        ("callbacks.best_checkpoint.filename=-1", ConfigError, r"^callbacks.best_checkpoint.filename=-1 is not allowed: expected "
                                                               r"a string or null$"),
        ("logger.tensorboard.save_dir=null", ConfigError, r"^logger.tensorboard.save_dir=null is not allowed: expected a path$"),
    ],
)
def test_bad_values_fail_before_training(tmp_path, override, error, message):
    cfg = compose_train("dcgan", [override, "data.download=false"], output_dir=tmp_path)
    with pytest.raises(error, match=message):
        train(cfg)
    assert not (tmp_path / "checkpoints").exists()


def test_an_output_dir_that_is_no_path_is_named(tmp_path):
    cfg = compose_train("gan", output_dir=tmp_path)
    cfg.paths.output_dir = None  # paths.output_dir=null: a TypeError traceback
    with pytest.raises(ConfigError, match=r"^paths.output_dir=null is not allowed: expected a path$"):
        train(cfg)


def test_unwritable_output_folder_is_reported_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the run dir should go")
    with pytest.raises(ConfigError, match=r"cannot write the run's outputs to .*file/run: .*hydra.run.dir"):
        train(compose_train("dcgan", output_dir=blocker / "run"))
    # A callback's own folder outside the run dir failed at its first save, an epoch in, with a traceback.
    cfg = compose_train("gan", [f"callbacks.last_checkpoint.dirpath={blocker}/checkpoints"], output_dir=tmp_path / "run")
    with pytest.raises(ConfigError, match=r"cannot write the run's outputs to .*file/checkpoints: .* Choose another "
                                          r"folder with callbacks.last_checkpoint.dirpath=<folder>$"):
        train(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()
