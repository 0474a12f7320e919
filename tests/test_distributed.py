"""Several processes, mixed precision and sweeps, on CPU: correct, not just running."""

import logging
import math
import re

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import TINY_MODEL, compose_train, probe_env, run_script
from gan_digits.compare import compare
from test_cli import TINY_CLI


def _probe_args(probe_dir):
    return ["+callbacks.probe._target_=rank_probe.RankProbe", f"+callbacks.probe.dirpath={probe_dir}"]


def _ranks_kept_in_step(probe):
    """What each of two ranks saw (tests/rank_probe.py), checked: 128 images, 2 ranks, batches of 32: 2 batches
    each, weights identical after every one; different shards of the data, different noise."""
    ranks = [torch.load(probe / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert len(ranks[0]["checksums"]) == 2
    assert ranks[0]["checksums"] == ranks[1]["checksums"]
    assert not torch.equal(ranks[0]["first_labels"], ranks[1]["first_labels"])
    assert not torch.equal(ranks[0]["noise"], ranks[1]["noise"])
    return ranks


def test_two_process_ddp_keeps_ranks_in_step(tmp_path):
    run, probe = tmp_path / "run", tmp_path / "probe"
    result = run_script(
        "train.py", "accelerator=ddp_cpu", "model=cdcgan", *TINY_MODEL["cdcgan"], *TINY_CLI, *_probe_args(probe),
        f"hydra.run.dir={run}", env=probe_env(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    _ranks_kept_in_step(probe)
    # One run dir with one set of outputs, written by rank 0 only.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["probe", "run"]
    checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert len(checkpoints) == 2 and checkpoints[0].startswith("epoch00-fid") and checkpoints[1] == "last.ckpt"
    assert len(list((run / "tb").glob("events.out.tfevents.*"))) >= 1
    # Each rank's log: rank 1, started by re-running the command, under the job name Lightning gives it.
    logs = ["train.log", "train_ddp_process_1.log"]
    assert sorted(p.name for p in run.iterdir()) == [".hydra", "checkpoints", "samples", "tb", *logs]
    assert [(run / log).read_text().count("done: step 4 (2 batches)") for log in logs] == [1, 0]
    assert "effective batch size 64 (32 per device x 2 devices)" in result.stdout + result.stderr
    assert (result.stdout + result.stderr).count("done: step 4 (2 batches)") == 1  # rank 0's summary only
    # Every epoch-level metric is reduced over the ranks (the quality metrics collectively, before logging):
    # Lightning has no advice to give about syncing them.
    assert "sync_dist=True" not in result.stdout + result.stderr
    # DDP's 4-line warning of every rank, of the first convolution's single input channel (torch's issue #70222).
    assert "Grad strides do not match" not in result.stdout + result.stderr


def test_a_nan_on_one_rank_rolls_every_rank_back_together(tmp_path):
    """The divergence guard read each rank's own losses: one rank's NaN batch had that rank alone roll back, the
    ranks' weights parted, and the other rank's epoch-end checkpoint saved NaN weights, to which its later
    rollbacks returned; the run ended `done` with NaN weights. Now every rank reads the mean over the ranks."""
    run, probe = tmp_path / "run", tmp_path / "probe"
    result = run_script(
        "train.py", "accelerator=ddp_cpu", "model=cdcgan", *TINY_MODEL["cdcgan"], *TINY_CLI, *_probe_args(probe),
        "trainer.max_epochs=3", "callbacks.divergence.every_n_batches=1", "callbacks.divergence.action=rollback",
        # G's loss on rank 1 at its 4th batch (the second epoch's last; G's loss comes after D's step 7)
        "+callbacks.nan._target_=rank_probe.NanLossOnRank", "+callbacks.nan.rank=1", "+callbacks.nan.at_step=7",
        f"hydra.run.dir={run}", env=probe_env(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "divergence guard: train/g_loss is nan at step 8: rolled back to the weights of " in output
    assert "(step 4), rollback 1 of 3" in output and "rollback 2 of 3" not in output
    ranks = [torch.load(probe / f"rank{r}.pt", weights_only=True)["checksums"] for r in (0, 1)]
    assert ranks[0] == ranks[1] and len(ranks[0]) == 6
    assert ranks[0][3] == ranks[0][1]  # back at the first epoch's end, the step 4 of last.ckpt
    assert all(math.isfinite(value) for checksums in ranks[0] for value in checksums)


@pytest.mark.parametrize("name, start_method, accelerator", [
    ("ddp", "popen", "cpu"), ("ddp_spawn", "spawn", "cpu"),
    ("ddp_fork", "fork", "gpu"), ("ddp_notebook_find_unused_parameters_true", "fork", "gpu"),
])
def test_lightnings_ddp_names_get_ddp_that_accepts_a_network_without_gradients(name, start_method, accelerator,
                                                                               monkeypatch):
    from lightning.pytorch.strategies import DDPStrategy
    from omegaconf import OmegaConf

    from gan_digits import strategy as strategies

    monkeypatch.setattr(strategies, "device_count", lambda trainer_cfg: 2)  # this machine may have no GPU
    trainer_cfg = OmegaConf.create({"strategy": name, "accelerator": accelerator, "devices": 2, "num_nodes": 1})
    strategy = strategies.pick_strategy(trainer_cfg)
    assert isinstance(strategy, DDPStrategy) and strategy._ddp_kwargs == {"find_unused_parameters": True}
    assert strategy._start_method == start_method


@pytest.mark.parametrize("name", ["ddp_fork", "ddp_notebook", "ddp_fork_find_unused_parameters_true"])
def test_forked_ranks_are_refused_on_the_cpu(name):
    """A forked rank with more than one CPU thread waited forever at its first parallel operation (loading the
    classifier's weights): torch's OpenMP threads, started in the parent, do not survive the fork."""
    from omegaconf import OmegaConf

    from gan_digits.checks import ConfigError
    from gan_digits.strategy import pick_strategy

    trainer_cfg = OmegaConf.create({"strategy": name, "accelerator": "cpu", "devices": 1, "num_nodes": 1})
    with pytest.raises(ConfigError, match=rf"^trainer.strategy={name} is not allowed on the CPU: a forked rank hangs .*; "
                                          r"expected ddp or ddp_spawn \(the same DDP, in fresh processes\)$"):
        pick_strategy(trainer_cfg)


@pytest.mark.parametrize("strategy, devices", [("auto", 2), ("ddp_spawn", 1)])
def test_sync_batchnorm_under_ddp_on_the_cpu_is_refused(strategy, devices):
    """DDP refused the synced batch norm in every rank once fit had begun: "SyncBatchNorm layers only work with GPU
    modules", a traceback each. One process without DDP takes the setting (Lightning syncs nothing there)."""
    from omegaconf import OmegaConf

    from gan_digits.checks import ConfigError
    from gan_digits.strategy import pick_strategy

    trainer_cfg = OmegaConf.create({"strategy": strategy, "accelerator": "cpu", "devices": devices, "num_nodes": 1,
                                    "sync_batchnorm": True})
    with pytest.raises(ConfigError, match=r"^trainer.sync_batchnorm=true is not allowed with DDP on the CPU: torch's "
                                          r"SyncBatchNorm runs on GPUs only; expected false \(.*\)$"):
        pick_strategy(trainer_cfg)
    assert pick_strategy(OmegaConf.merge(trainer_cfg, {"strategy": "auto", "devices": 1})) == "auto"


@pytest.mark.parametrize("strategy", ["auto", "ddp"])
def test_more_gpus_than_the_machine_has_are_refused_in_one_line(strategy):
    """Lightning's two lines ("You requested gpu: [0, 1, ...]\n But your machine only has: []"), and only
    for `strategy: auto`: a named strategy met them when the trainer was built."""
    from omegaconf import OmegaConf

    from gan_digits.checks import ConfigError
    from gan_digits.strategy import pick_strategy

    trainer_cfg = OmegaConf.create({"strategy": strategy, "accelerator": "gpu", "devices": 64, "num_nodes": 1})
    with pytest.raises(ConfigError, match=r"^trainer.devices=64 is not allowed here: trainer.accelerator=gpu and this "
                                          r"machine has \d+ CUDA GPUs?(: on the CPU, accelerator=cpu .*)?$"):
        pick_strategy(trainer_cfg)


@pytest.mark.parametrize("cores, allowed", [(1, 2), (2, 2), (8, 8)])
def test_more_cpu_processes_than_cores_are_refused_in_one_line(cores, allowed, monkeypatch):
    """64 ranks on 2 cores had not begun to train after 2 minutes, each holding its own torch, nets and data. Two
    ranks are allowed on one core, to try DDP out (accelerator=ddp_cpu)."""
    from omegaconf import OmegaConf

    from gan_digits import strategy
    from gan_digits.checks import ConfigError

    monkeypatch.setattr(strategy, "cpu_cores", lambda: cores)
    trainer_cfg = OmegaConf.create({"strategy": "auto", "accelerator": "cpu", "devices": allowed, "num_nodes": 1})
    assert strategy.device_count(trainer_cfg) == allowed
    with pytest.raises(ConfigError, match=rf"^trainer.devices={allowed + 1} is not allowed here: on the CPU each device is "
                                          rf"a training process with its own copy of the nets and data, and this command "
                                          rf"may use {cores} cores?: expected an integer from 1 to {allowed}$"):
        strategy.pick_strategy(OmegaConf.merge(trainer_cfg, {"devices": allowed + 1}))
    # Started by torchrun (or SLURM's srun), each rank on the share of the cores its launcher gave it.
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "1")
    assert strategy.device_count(OmegaConf.merge(trainer_cfg, {"devices": allowed + 1})) == allowed + 1


@pytest.mark.parametrize("strategy", ["auto", "ddp"])
def test_several_nodes_that_no_launcher_started_are_refused(strategy, monkeypatch):
    """Node 0 waited at 127.0.0.1 for nodes that never come, until torch's timeout (half an hour)."""
    from omegaconf import OmegaConf

    from gan_digits.checks import ConfigError
    from gan_digits.strategy import pick_strategy

    monkeypatch.delenv("MASTER_ADDR", raising=False)
    trainer_cfg = OmegaConf.create({"strategy": strategy, "accelerator": "cpu", "devices": 1, "num_nodes": 2})
    with pytest.raises(ConfigError, match=r"^trainer.num_nodes=2 is not allowed here: no cluster launched this command on 2 "
                                          r"nodes\. Launch it with SLURM \(launcher=slurm\), torchrun, or .*NODE_RANK=<0 to 1> set$"):
        pick_strategy(trainer_cfg)
    monkeypatch.setenv("MASTER_ADDR", "10.0.0.1")  # started by hand on each node: node 0 waits for the others
    assert pick_strategy(trainer_cfg)._start_method == "popen"


def test_bf16_mixed_trains_on_cpu_with_finite_losses(tmp_path, caplog, recwarn):
    from gan_digits.training import train

    overrides = ["trainer.precision=bf16-mixed", "trainer.enable_model_summary=true"]
    with caplog.at_level(logging.INFO):
        metrics = train(compose_train("dcgan", overrides, output_dir=tmp_path))
    for name in ("train/d_loss", "train/g_loss", "val/d_loss"):
        assert math.isfinite(metrics[name])
    # Lightning's words that a user cannot act on: its cloud logger's advert, the summary's bf16 size estimate.
    assert "Using bfloat16 Automatic Mixed Precision (AMP)" in caplog.text and "Total params" in caplog.text
    assert "litlogger" not in caplog.text
    assert not [w for w in recwarn if "not supported by the model summary" in str(w.message)]


def test_spawned_ranks_keep_quiet_what_one_process_does(tmp_path, capfd, caplog):
    """Lightning's warnings that a run here answers (a bf16 summary's size estimate; a resume's full checkpoint folder
    and mid-epoch start) were filtered in train()'s process alone: each spawned rank printed them."""
    from gan_digits.training import train

    spawned = ["trainer.strategy=ddp_spawn", "trainer.precision=bf16-mixed", "trainer.enable_model_summary=true"]
    caplog.set_level(logging.INFO)
    train(compose_train("gan", [*spawned, "trainer.max_steps=6"], output_dir=tmp_path))  # 3 of an epoch's 4 batches
    train(compose_train("gan", [*spawned, "ckpt_path=last"], output_dir=tmp_path))
    printed = capfd.readouterr().err
    assert printed.count("Total params") == 2 and "Restored all states from the checkpoint" in printed  # in the ranks
    for warned in ("not supported by the model summary", "exists and is not empty", "resuming from a checkpoint that ended"):
        assert warned not in printed
    # The measuring command reads the run's MNIST folder: it was left out, the datamodule being the spawned ranks'.
    assert re.search(r"\n  measure it: +\S+ -m gan_digits\.evaluate \S+ --floor --data \S+\n", caplog.text)


def test_multirun_leaves_one_run_dir_per_job(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_script(
        "train.py", "-m", "model=gan", *TINY_MODEL["gan"], *TINY_CLI, "model.g_optimizer.lr=1e-4,2e-4",
        "optimized_metric=val/fid", f"hydra.sweep.dir={sweep}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ["0", "1"]
    for job in jobs:
        assert (job / "checkpoints" / "last.ckpt").is_file()
    lrs = [(job / ".hydra" / "overrides.yaml").read_text() for job in jobs]
    assert "model.g_optimizer.lr=0.0001" in lrs[0] and "model.g_optimizer.lr=0.0002" in lrs[1]
    # Hyper-parameters and final metrics land in TensorBoard's HPARAMS tab.
    events = EventAccumulator(str(jobs[1] / "tb"))
    events.Reload()
    assert "hparams/val/fid" in events.Tags()["scalars"]
    assert "_hparams_/experiment" in events.PluginTagToContent("hparams")


def test_multirun_with_two_devices_spawns_one_run_dir_per_job(tmp_path):
    """DDP's default launcher would re-run the whole sweep in each child: under -m the ranks are spawned.

    Its second job trains at bf16-mixed, with the strategy as Lightning users name it (plain DDP rejected the
    step at its first backward): the ranks stay in step there too, where D's and G's convolutions compute their
    gradients their own way (nets/conv_grads.py, which bf16 takes on a CPU without AMX)."""
    sweep = tmp_path / "sweep"
    result = run_script(
        "train.py", "-m", "accelerator=ddp_cpu", "model=cdcgan", *TINY_MODEL["cdcgan"], *TINY_CLI,
        "trainer.strategy=ddp", "trainer.precision=32-true,bf16-mixed", "float32_matmul_precision=high",
        f"hydra.sweep.dir={sweep}",
        *_probe_args(f"{tmp_path}/probe_${{trainer.precision}}"), env=probe_env(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # The spawned ranks never ran build(): they run under train.py's process settings all the same.
    nvml_check = "0" if torch.cuda._device_count_nvml() < 0 else "1"  # gan_digits/cuda_check.py
    for precision in ("32-true", "bf16-mixed"):
        ranks = _ranks_kept_in_step(tmp_path / f"probe_{precision}")
        assert [r["nvml_check"] for r in ranks] == [nvml_check, nvml_check]
        assert [r["matmul_precision"] for r in ranks] == ["high", "high"]
    assert sorted(p.name for p in sweep.iterdir()) == ["0", "1", "multirun.yaml"]
    for job in ("0", "1"):
        assert sorted(p.name for p in (sweep / job).iterdir()) == [".hydra", "checkpoints", "samples", "tb", "train.log"]
        log = (sweep / job / "train.log").read_text()  # the spawned rank 0's lines too (epoch lines were printed alone)
        assert "] epoch 1 of 1: step 4 (2 batches)" in log and "] done: step 4 (2 batches)" in log
        assert torch.load(sweep / job / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4
    output = result.stdout + result.stderr
    assert output.count("effective batch size 64 (32 per device x 2 devices)") == 2
    # Each job's summary, once, with what the spawned ranks did (read back from its last.ckpt).
    assert output.count("done: step 4 (2 batches)") == 2 and output.count("best val/fid: ") == 2
    # The sweep as a table: one row per job, the precision the one override that differs.
    rows = [line.split(" | ") for line in compare([sweep]).splitlines()[2:]]
    assert sorted((cells[0].lstrip("| "), cells[1]) for cells in rows) == [
        (str(sweep / "0"), "trainer.precision=32-true"), (str(sweep / "1"), "trainer.precision=bf16-mixed")]


def test_an_error_in_a_spawned_rank_is_raised_as_itself(tmp_path):
    """torch hands the parent only a spawned rank's traceback as text: the divergence guard stopping a run (or a
    failed MNIST download, both met in fit) was a traceback of ProcessRaisedException, and a `-m` sweep on several
    devices stopped there instead of going on with its next job."""
    from torch.multiprocessing import ProcessRaisedException

    from gan_digits.callbacks.divergence import DivergenceError
    from gan_digits.checks import ReportedError, UserInputError
    from gan_digits.training import train

    guard_stops_at_once = ["callbacks.divergence.d_real_above=0", "callbacks.divergence.d_fake_below=1",
                           "callbacks.divergence.patience=1", "callbacks.divergence.every_n_batches=1"]
    cfg = compose_train("gan", ["trainer.strategy=ddp_spawn", *guard_stops_at_once], output_dir=tmp_path)
    with pytest.raises(ReportedError, match=r"^divergence guard: the discriminator has won for 1 checks in a row "
                                            r"\(D\(real\)=0\.\d+, D\(fake\)=0\.\d+\) at step 2: stopped "
                                            r"\(last checkpoint: none yet\)$") as raised:
        train(cfg)
    assert not isinstance(raised.value, (DivergenceError, UserInputError))  # rebuilt here from the rank's text
    assert isinstance(raised.value.__cause__, ProcessRaisedException)


def test_a_setting_lightning_refuses_in_a_spawned_rank_is_one_line(tmp_path):
    """Lightning judges val_check_interval against the epoch's batches only in fit, in the rank: ProcessRaisedException's
    traceback of the rank's ValueError, where one process said it in one line."""
    from gan_digits.checks import ConfigError
    from gan_digits.training import train

    cfg = compose_train("gan", ["trainer.strategy=ddp_spawn", "trainer.val_check_interval=1000"], output_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"^trainer config: `val_check_interval` \(1000\) must be less than or equal to "
                                          r"the number of the training batches \(4\)\. .* \(here: "
                                          r"trainer.check_val_every_n_epoch=null\)$"):
        train(cfg)


def test_a_spawned_ranks_bad_input_keeps_its_kind_and_whole_message():
    """Bad input exits 2, anything else 1 (report_user_errors): the kind is read from the rank's text, as torch
    writes it (traceback.format_exc), here a failed download's, whose torchvision error comes first."""
    import traceback

    from gan_digits.checks import UserInputError, raised_in_spawned_rank
    from gan_digits.data import MNISTFileError

    try:
        try:
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://example.org/mnist/")
        except RuntimeError as err:
            raise MNISTFileError("could not download MNIST into /x/MNIST/raw: Offline?") from err
    except MNISTFileError:
        text = traceback.format_exc()
    found = raised_in_spawned_rank(text)
    assert type(found) is UserInputError and str(found) == "could not download MNIST into /x/MNIST/raw: Offline?"
    assert raised_in_spawned_rank(text.replace("gan_digits.data.idx.MNISTFileError", "ValueError")) is None


def test_train_returns_the_optimized_metric_to_a_sweeper():
    from gan_digits.checks import ConfigError
    from gan_digits.training import objective

    cfg = compose_train("gan", ["optimized_metric=val/fid"])
    assert objective(cfg, {"val/fid": 12.5, "train/g_loss": 1.0}) == 12.5
    with pytest.raises(ConfigError, match=r"optimized_metric='val/fid' was not logged; logged: train/g_loss"):
        objective(cfg, {"train/g_loss": 1.0})
    assert objective(compose_train("gan"), {"val/fid": 12.5}) is None
