"""Training through train(cfg): finite losses, the right networks learn, and every output lands in the run dir."""

import logging
import math
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
import torch
import yaml
from hydra.utils import instantiate
from omegaconf import open_dict
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import MODELS, compose_train
from gan_digits.checkpoint import build_generator, load_checkpoint
from gan_digits import provenance
from gan_digits.checks import ConfigError
from gan_digits.module import GANModule
from gan_digits.nets.clusters import fit_clusters
from gan_digits.provenance import code_versions
from gan_digits.run_log import HANDLER
from gan_digits.training import build

SCALARS = {"train/d_loss", "train/g_loss", "train/d_real", "train/d_fake"}


def _snapshot(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in net.named_parameters()}


def _graph_leaves(loss: torch.Tensor) -> list[torch.Tensor]:
    """The weights a backward from `loss` computes gradients for."""
    leaves, seen, todo = [], set(), [loss.grad_fn]
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if hasattr(node, "variable"):  # AccumulateGrad: a leaf that requires grad
            leaves.append(node.variable)
        todo.extend(next_node for next_node, _ in node.next_functions)
    return leaves


def _changed(before: dict, net: torch.nn.Module) -> set[str]:
    return {name for name, p in net.named_parameters() if not torch.equal(before[name], p)}


@pytest.mark.parametrize("model,recipe", [(m, []) for m in MODELS] + [("dcgan", ["model.generator.latent_codes=10", "model.generator.clusters=null"]),
                                                                      ("dcgan", ["model.generator.clusters=4"]),
                                                                      ("cdcgan", ["model.generator.clusters=2"]),
                                                                      ("cdcgan", ["model.diversity_weight=0"])])
def test_each_step_updates_only_its_own_network(model, recipe, tmp_path, monkeypatch):
    """D's step leaves G untouched and G's step leaves D untouched; both learn, losses stay finite.
    G's step computes no gradients for D at all: D's weights are frozen while it scores the fakes."""
    datamodule, module, trainer = build(compose_train(model, ["trainer.max_steps=4", *recipe], output_dir=tmp_path))
    updates = []
    original = GANModule._optimizer_step

    def spy(self, optimizer, loss):
        g_before, d_before = _snapshot(self.generator), _snapshot(self.discriminator)
        in_graph = {id(w) for w in _graph_leaves(loss)}
        original(self, optimizer, loss)
        updates.append((loss.item(), _changed(g_before, self.generator), _changed(d_before, self.discriminator),
                        [n for n, w in self.discriminator.named_parameters() if id(w) in in_graph]))

    monkeypatch.setattr(GANModule, "_optimizer_step", spy)
    trainer.fit(module, datamodule=datamodule)

    assert len(updates) == 4 and trainer.global_step == 4  # two batches, D then G each
    n_g, n_d = len(list(module.generator.parameters())), len(list(module.discriminator.parameters()))
    for i, (loss, g_changed, d_changed, d_weights_in_graph) in enumerate(updates):
        assert math.isfinite(loss)
        if i % 2 == 0:  # the discriminator's step
            assert not g_changed and len(d_changed) == n_d
        else:
            assert not d_changed and len(g_changed) == n_g and d_weights_in_graph == []


@pytest.mark.parametrize("model,clusters", [("dcgan", 4), ("cdcgan", 2)])
def test_clusters_are_fitted_on_the_training_digits_and_saved(model, clusters, tmp_path):
    datamodule, module, trainer = build(compose_train(model, [f"model.generator.clusters={clusters}"], output_dir=tmp_path))
    trainer.fit(module, datamodule=datamodule)
    digits = datamodule.train_set
    fine = module.discriminator.fine_clusters
    if module.conditional:  # clusters within each digit: its styles, by pixel k-means
        assert fine is None
        centroids, members, sizes = fit_clusters(digits.images, clusters, digits.labels, 10)
        assert centroids.shape == (10, clusters, 784)
        assert torch.equal(sizes.sum(dim=1), torch.bincount(digits.labels, minlength=10))
    else:  # manifold clusters: unions of `fine` small ones
        centroids, members, sizes = fit_clusters(digits.images, clusters, fine=fine)
        assert centroids.shape == (1, fine, 784) and sizes.sum() == len(digits) and (sizes > 0).all()
    assert torch.equal(module.discriminator.members, members)
    assert torch.equal(module.discriminator.centroids, centroids)
    for generator in (module.generator, module.generator_ema):
        assert torch.allclose(generator.cluster_cdf, sizes.cumsum(dim=1) / sizes.sum(dim=1, keepdim=True))
    # sample.py's generator draws clusters as often as training did.
    sampler = build_generator(load_checkpoint(tmp_path / "checkpoints" / "last.ckpt"))
    assert torch.equal(sampler.cluster_cdf, module.generator_ema.cluster_cdf)


def test_tensorboard_hparams_file_holds_the_runs_hyperparameters(trained):
    """Lightning wrote tb/hparams.yaml at the fit's start, before the run's hyper-parameters were logged: `{}`."""
    written = yaml.safe_load((trained["gan"] / "tb" / "hparams.yaml").read_text())
    assert written["seed"] == 42
    assert written["model/generator/_target_"] == "gan_digits.nets.MLPGenerator"
    assert written["model/generator/hidden"] == "[32, 64]"  # TINY_MODEL's, as the HPARAMS tab shows a list
    assert (written["data/batch_size"], written["trainer/max_steps"]) == (32, 8)  # TINY_RUN's
    # Which code trained it, as plain strings (torch's version object was written as a Python object YAML refuses).
    assert {key: written[f"code/{key}"] for key in ("gan_digits", "torch", "lightning", "python")} == code_versions()
    assert written["code/torch"] == str(torch.__version__) and written["code/python"] == platform.python_version()


def test_the_code_version_is_the_commit_and_says_local_changes(tmp_path, monkeypatch):
    """A result is traced to the commit that made it; a checkout with changed files says so; elsewhere the
    installed package's version stands in."""
    monkeypatch.setattr(provenance, "ROOT", tmp_path)
    assert provenance.project_version() == f"{metadata.version('gan_digits')} (no git commit)"  # a copied folder

    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                              check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    (tmp_path / "train.py").write_text("one\n")
    git("add", "train.py")
    git("commit", "-q", "-m", "one")
    commit = git("rev-parse", "HEAD")[:12]
    assert provenance.project_version() == commit
    (tmp_path / "notes.txt").write_text("untracked\n")  # an untracked file changes no code that ran
    assert provenance.project_version() == commit
    (tmp_path / "train.py").write_text("two\n")
    assert provenance.project_version() == f"{commit}+changes"
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))  # no git to ask
    assert provenance.project_version() == f"{metadata.version('gan_digits')} (no git commit)"


@pytest.mark.parametrize("model", MODELS)
def test_run_writes_checkpoint_events_and_sample_grids(model, trained):
    run = trained[model]
    assert (run / "checkpoints" / "last.ckpt").is_file()
    grids = sorted(p.name for p in (run / "samples").glob("*.png"))
    assert grids == ["step_0000004.png", "step_0000008.png"]  # every_n_steps=4, then the epoch end (8) once

    events = EventAccumulator(str(run / "tb"))
    events.Reload()
    assert SCALARS | {"val/d_real", "val/d_fake"} <= set(events.Tags()["scalars"])
    for tag in SCALARS:
        steps = [e.step for e in events.Scalars(tag)]
        assert steps == [2, 4, 6, 8]  # the x-axis is the optimizer step: two per batch
        assert all(math.isfinite(e.value) for e in events.Scalars(tag))
    assert [e.step for e in events.Images("samples")] == [4, 8]


def test_conditional_grid_has_one_row_per_digit(trained):
    from PIL import Image

    width, height = Image.open(trained["cdcgan"] / "samples" / "step_0000008.png").size
    # the grid pads 2 px around each 28 px digit: 8 columns, 10 rows (digits 0-9).
    assert (width, height) == (8 * 30 + 2, 10 * 30 + 2)
    width, height = Image.open(trained["dcgan"] / "samples" / "step_0000008.png").size
    assert (width, height) == (8 * 30 + 2, 8 * 30 + 2)


def test_checkpoint_loads_weights_only_and_holds_the_model_config(trained):
    checkpoint = torch.load(trained["cdcgan"] / "checkpoints" / "last.ckpt", weights_only=True)
    model = checkpoint["gan_digits"]["model"]
    assert model["generator"]["_target_"] == "gan_digits.nets.DCGANGenerator"
    assert model["generator"]["num_classes"] == 10
    assert checkpoint["global_step"] == 8
    assert "fixed_z" in checkpoint["state_dict"] and "fixed_y" in checkpoint["state_dict"]


def test_last_checkpoint_knows_the_best_one(trained):
    """Both checkpoints save at an epoch's end, the best first, so last.ckpt (what a resume and the end of
    a run read back) holds the best one's state as of that epoch."""
    checkpoint = torch.load(trained["cdcgan"] / "checkpoints" / "last.ckpt", weights_only=True)
    best = [state for key, state in checkpoint["callbacks"].items() if "'monitor': 'val/fid'" in key]
    assert len(best) == 1 and best[0]["best_model_score"] is not None
    path = Path(best[0]["best_model_path"])
    assert path.parent == trained["cdcgan"] / "checkpoints" and path.name.startswith("epoch00-fid") and path.is_file()


def test_scheduler_steps_both_rates_once_per_epoch(tmp_path):
    decay = "model.scheduler={_target_:torch.optim.lr_scheduler.ExponentialLR,_partial_:true,gamma:0.5}"
    datamodule, module, trainer = build(compose_train("cdcgan", [decay, "trainer.max_steps=24"], output_dir=tmp_path))
    trainer.fit(module, datamodule=datamodule)  # 3 epochs of 4 batches
    assert trainer.current_epoch == 3
    rates = [factory.keywords["lr"] * 0.5**3 for factory in (module.g_optimizer, module.d_optimizer)]
    assert [opt.param_groups[0]["lr"] for opt in module.optimizers()] == rates
    # TensorBoard shows each rate as it went: a batch logs its epoch's rate.
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    for tag, factory in (("train/g_lr", module.g_optimizer), ("train/d_lr", module.d_optimizer)):
        epoch_rates = [(step, pytest.approx(factory.keywords["lr"] * 0.5 ** ((step - 1) // 8))) for step in range(2, 25, 2)]
        assert [(e.step, e.value) for e in events.Scalars(tag)] == epoch_rates


def test_a_run_without_a_schedule_logs_no_rates(trained):
    events = EventAccumulator(str(trained["cdcgan"] / "tb"))
    events.Reload()
    assert not {"train/g_lr", "train/d_lr"} & set(events.Tags()["scalars"])


@pytest.mark.parametrize("max_steps, trained_on", [(8, 16), (1, 4)])  # 1 ends with its batch: 2 steps, twice 1 trains no more
def test_a_run_ended_by_max_steps_is_trained_on_for_twice_the_steps(tmp_path, max_steps, trained_on):
    """Its summary named no command to train it on (only runs that ended by their epochs had one)."""
    from gan_digits.run_summary import run_summary

    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text(f"- model=gan\n- trainer.max_steps={max_steps}\n")  # as train.py writes
    cfg = compose_train("gan", [f"trainer.max_steps={max_steps}"], output_dir=tmp_path)  # 8: 4 of 4 batches
    datamodule, module, trainer = build(cfg)
    trainer.fit(module, datamodule=datamodule)
    train_on = run_summary(trainer, tmp_path, {}, 0.0).splitlines()[-2]
    assert train_on.startswith("  train on:") and train_on.endswith(
        f"train.py model=gan hydra.run.dir={tmp_path} ckpt_path=last trainer.max_steps={trained_on}")


def test_resuming_with_max_epochs_below_the_checkpoints_epoch_is_one_line(tmp_path):
    """Lightning's refusal came as its traceback (MisconfigurationException: You restored a checkpoint with ...)."""
    from gan_digits.training import train

    train(compose_train("gan", ["trainer.max_steps=-1", "trainer.max_epochs=3", "trainer.limit_val_batches=0"],
                        output_dir=tmp_path))
    resume = ["trainer.max_steps=-1", "trainer.max_epochs=1", "trainer.limit_val_batches=0", "ckpt_path=last"]
    with pytest.raises(ConfigError, match=r"^trainer.max_epochs=1 is not allowed: the checkpoint this run resumes is "
                                          r"at epoch 2 \(counted from 0\), past it: raise it to train on$"):
        train(compose_train("gan", resume, output_dir=tmp_path))


def test_fast_dev_run_trains_one_batch_and_says_so(tmp_path):
    from gan_digits.run_summary import run_summary

    datamodule, module, trainer = build(compose_train("gan", ["trainer.fast_dev_run=true"], output_dir=tmp_path))
    trainer.fit(module, datamodule=datamodule)
    assert trainer.global_step == 2
    assert run_summary(trainer, tmp_path, {}, 0.0).startswith("done: step 2 (1 batch) after")  # said "1 batches"


def test_checkpointing_turned_off_trains_and_writes_no_checkpoint(tmp_path):
    """trainer.enable_checkpointing=false drops the config's checkpoint callbacks (Lightning refused the run)."""
    from gan_digits.run_summary import run_summary

    datamodule, module, trainer = build(compose_train("gan", ["trainer.enable_checkpointing=false"], output_dir=tmp_path))
    trainer.fit(module, datamodule=datamodule)
    assert trainer.global_step == 8 and not trainer.checkpoint_callbacks
    assert not (tmp_path / "checkpoints").exists() and list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert "sample it" not in run_summary(trainer, tmp_path, {}, 0.0)  # nothing to sample from


def test_without_the_callbacks_group_last_ckpt_is_written_where_the_run_says(tmp_path, caplog):
    """`~callbacks`: Lightning added a ModelCheckpoint of its own (tb/checkpoints/epoch=0-step=8.ckpt, with an advert
    for its cloud registry), which the run's summary and ckpt_path=last did not find."""
    from gan_digits.training import train

    cfg = compose_train("gan", output_dir=tmp_path)
    with open_dict(cfg):
        del cfg["callbacks"]
    with caplog.at_level(logging.INFO):
        train(cfg)
    assert [path.name for path in (tmp_path / "checkpoints").iterdir()] == ["last.ckpt"]
    assert not (tmp_path / "tb" / "checkpoints").exists()
    assert f"sample.py ckpt={tmp_path}/checkpoints/last.ckpt" in caplog.text and "litmodels" not in caplog.text
    with open_dict(cfg):
        cfg.ckpt_path, cfg.trainer.max_steps = "last", 16
    train(cfg)
    assert load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["global_step"] == 16  # resumed, trained on


def test_same_seed_gives_same_losses(tmp_path):
    from gan_digits.training import train

    first = train(compose_train("dcgan", output_dir=tmp_path / "a"))
    second = train(compose_train("dcgan", output_dir=tmp_path / "b"))
    third = train(compose_train("dcgan", ["seed=7"], output_dir=tmp_path / "c"))
    assert first["train/g_loss"] == second["train/g_loss"] and first["train/d_loss"] == second["train/d_loss"]
    assert first["train/g_loss"] != third["train/g_loss"]


def test_ema_copy_follows_the_generator_and_is_what_is_sampled(trained):
    checkpoint = load_checkpoint(trained["dcgan"] / "checkpoints" / "last.ckpt")
    state = checkpoint["state_dict"]
    live = {k[len("generator."):]: v for k, v in state.items() if k.startswith("generator.")}
    ema = {k[len("generator_ema."):]: v for k, v in state.items() if k.startswith("generator_ema.")}
    assert live.keys() == ema.keys()
    weights = [k for k in live if k.endswith("weight")]
    assert any(not torch.equal(live[k], ema[k]) for k in weights)  # an average, not a copy
    sampled = build_generator(checkpoint).state_dict()
    assert all(torch.equal(sampled[k], ema[k]) for k in ema)


def test_ema_of_a_generator_without_batch_norm():
    """An MLP G of one hidden layer has no buffers: the EMA update failed on its empty list at the first batch."""
    module = instantiate(compose_train("gan", ["model.generator.hidden=[32]"]).model)
    assert not list(module.generator.buffers())
    with torch.no_grad():
        for weight in module.generator.parameters():
            weight.add_(1.0)
    module._update_ema()  # at step 0 the warm-up's decay is 0.1: the average moves 90% of the way
    for live, average in zip(module.generator.parameters(), module.generator_ema.parameters()):
        assert torch.allclose(average, live - 0.1)


def test_one_sided_label_smoothing_makes_d_aim_at_the_real_label():
    from gan_digits.checks import ConfigError
    from gan_digits.losses import BCELoss

    at_target = torch.tensor([[math.log(0.9 / 0.1)]], requires_grad=True)  # sigmoid = 0.9
    BCELoss(real_label=0.9).discriminator(at_target, torch.full((1, 1), -30.0)).backward()
    assert abs(at_target.grad.item()) < 1e-6  # no push past 0.9 on real digits
    sure = torch.tensor([[5.0]], requires_grad=True)
    BCELoss().discriminator(sure, torch.full((1, 1), -30.0)).backward()
    assert sure.grad.item() < 0  # the classic loss pushes on towards 1
    with pytest.raises(ConfigError, match=r"model.loss.real_label=1.5 is not allowed: expected a number in \(0.5, 1\]"):
        BCELoss(real_label=1.5)


def test_least_squares_loss_regresses_d_to_its_targets_and_keeps_pulling_g():
    from gan_digits.losses import BCELoss, LeastSquaresLoss

    real, fake = torch.ones(4, 1, requires_grad=True), torch.zeros(4, 1, requires_grad=True)
    LeastSquaresLoss().discriminator(real, fake).backward()
    assert real.grad.abs().max() == 0 and fake.grad.abs().max() == 0  # D at its targets: nothing to learn
    assert LeastSquaresLoss().discriminator(torch.zeros(4, 1), torch.ones(4, 1)) == 1.0  # each one off its target
    caught = [torch.full((1, 1), -4.0, requires_grad=True) for _ in range(2)]  # a fake D is sure of
    LeastSquaresLoss().generator(caught[0]).backward()
    BCELoss().generator(caught[1]).backward()
    assert caught[0].grad.item() == -5.0 and -1 < caught[1].grad.item() < -0.98  # LSGAN pulls harder the further off


def test_every_loss_is_computed_in_float32_under_bf16_autocast():
    """torch's BCE runs in float32 under autocast; the hinge loss's means ran in bf16 (3 significant digits)."""
    from gan_digits.losses import BCELoss, HingeLoss, LeastSquaresLoss

    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = torch.nn.Linear(3, 1)(torch.randn(4, 3))
        assert logits.dtype == torch.bfloat16
        for loss in (BCELoss(), HingeLoss(), LeastSquaresLoss()):
            assert loss.discriminator(logits, logits).dtype == loss.generator(logits).dtype == torch.float32, loss


def test_mode_seeking_term_grows_as_fakes_collapse_and_pairs_fakes_of_one_digit(tmp_path, monkeypatch):
    from gan_digits.losses import mode_seeking_loss

    z = torch.randn(8, 100, generator=torch.Generator().manual_seed(0))
    varied = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
    collapsed = varied[:4].repeat(2, 1, 1, 1)  # the second half repeats the first: one image per pair
    assert mode_seeking_loss(varied, z) < 5 and mode_seeking_loss(collapsed, z) > 1e4

    # The pairs (first half against second) ask for the same digits, so the term asks for variety within a digit.
    datamodule, module, trainer = build(compose_train("cdcgan", ["trainer.max_steps=2", "model.diversity_weight=1"],
                                                      output_dir=tmp_path))
    asked, draw = [], module.generator.forward
    monkeypatch.setattr(module.generator, "forward", lambda z, y=None: torch.is_grad_enabled() and asked.append(y)
                        or draw(z, y))  # training's draws only (grids and metrics draw without grad)
    trainer.fit(module, datamodule=datamodule)
    assert len(asked) == 1 and math.isfinite(module.last_train_scalars["train/mode_seeking"].item())
    training_draw = asked[0]
    half = training_draw.shape[0] // 2
    assert torch.equal(training_draw[:half], training_draw[half:2 * half]) and training_draw.unique().numel() > 1


def test_auto_accelerator_means_a_cuda_gpu_or_the_cpu(tmp_path, monkeypatch):
    """Lightning's own `auto` would pick Apple's MPS where it exists; the project's picks what it tests."""
    from lightning.fabric.accelerators.mps import MPSAccelerator
    from lightning.pytorch.accelerators import CPUAccelerator, CUDAAccelerator

    monkeypatch.setattr(MPSAccelerator, "is_available", staticmethod(lambda: True))
    cfg = compose_train("gan", ["trainer.accelerator=auto"], output_dir=tmp_path)
    _, _, trainer = build(cfg)
    name, accelerator = ("cuda", CUDAAccelerator) if torch.cuda.is_available() else ("cpu", CPUAccelerator)
    assert cfg.trainer.accelerator == name  # what the run's HPARAMS record
    assert isinstance(trainer.accelerator, accelerator)


@pytest.mark.parametrize("summary", [True, False])
def test_the_model_summary_is_lightnings_logged_table_also_where_rich_is_installed(summary, tmp_path, caplog, monkeypatch):
    """Where `rich` is installed (as on the GPU machine tried), Lightning's own pick was its Rich summary, printed to
    the terminal alone: train.log went without it. The callbacks group's plain one is logged wherever it runs."""
    from lightning.pytorch.callbacks import ModelSummary
    from lightning.pytorch.trainer.connectors import callback_connector

    monkeypatch.setattr(callback_connector, "_RICH_AVAILABLE", True)
    caplog.set_level(logging.INFO)
    cfg = compose_train("gan", [f"trainer.enable_model_summary={summary}"], output_dir=tmp_path)
    datamodule, module, trainer = build(cfg)
    assert [type(c) for c in trainer.callbacks if isinstance(c, ModelSummary)] == ([ModelSummary] if summary else [])
    trainer.fit(module, datamodule=datamodule)
    assert ("Total params" in caplog.text) == summary
    assert "Skipping setting a default `ModelSummary`" not in caplog.text  # Lightning's note on the group's own


@pytest.mark.parametrize("loader,advised", [("memory", False), ("torchvision", True)])
def test_lightnings_advice_to_add_loader_workers_is_kept_for_the_loader_that_needs_them(loader, advised, tmp_path,
                                                                                       monkeypatch, recwarn):
    """On a machine of more than 2 cores every run was told, for its training and its validation batches, that they
    "may be a bottleneck" and to set num_workers=<cores - 1>: batches indexed from memory need no worker (conf/data)."""
    from lightning.pytorch.trainer.connectors import data_connector

    from gan_digits.training import train

    monkeypatch.setattr(data_connector, "suggested_max_num_workers", lambda devices: 15)  # a 16-core machine
    train(compose_train("gan", [f"data.loader={loader}"], output_dir=tmp_path))
    advice = [str(w.message) for w in recwarn if "does not have many workers" in str(w.message)]
    assert len(advice) == (2 if advised else 0), advice  # train_dataloader's and val_dataloader's


def test_float32_matmul_precision_is_set_for_the_run_as_lightning_advises_on_a_gpu(tmp_path, monkeypatch):
    """On a GPU with Tensor Cores every run was advised to call torch.set_float32_matmul_precision('high'), which a
    run here had no setting for (seen on the H200). The config's key sets it, torch's default kept otherwise."""
    asked = []
    monkeypatch.setattr(torch, "set_float32_matmul_precision", asked.append)
    for value in ("high", "highest"):
        build(compose_train("gan", [f"float32_matmul_precision={value}"], output_dir=tmp_path / value))
    assert asked == ["high", "highest"]
    with pytest.raises(ConfigError, match=r"^float32_matmul_precision='fast' is not allowed: expected one of highest, "
                                          r"high, medium$"):
        build(compose_train("gan", ["float32_matmul_precision=fast"], output_dir=tmp_path / "fast"))


def test_a_run_that_ends_before_its_first_validation_says_so_without_lightnings_hint(tmp_path, caplog, recwarn):
    """Lightning warned that the best checkpoint's val/fid was not found, asking whether the module calls
    log('val/fid'), and the summary said nothing of it: the run had ended (max_steps) before any validation."""
    from gan_digits.training import train

    caplog.set_level(logging.INFO)
    metrics = train(compose_train("gan", ["trainer.max_steps=4"], output_dir=tmp_path))  # 2 of an epoch's 4 batches
    assert "val/fid" not in metrics and (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert not [w for w in recwarn if "could not find the monitored key" in str(w.message)]
    assert re.search(r"\n  latest val: +none: the run ended before a validation scored it\n", caplog.text)


def test_a_run_that_trains_on_after_its_latest_validation_says_where_that_was_scored(tmp_path, caplog):
    """The summary's latest val/fid read as the final model's when max_steps ended the run an epoch's part later."""
    from gan_digits.training import train

    caplog.set_level(logging.INFO)
    train(compose_train("gan", ["trainer.max_steps=10"], output_dir=tmp_path / "on"))  # validated at step 8 (epoch 1)
    assert re.search(r"\n  latest val: +val/fid [\d.]+, val/precision [\d.]+, val/recall [\d.]+, val/modes \d+ "
                     r"\(scored at step 8; the run trained on to step 10\)\n", caplog.text), caplog.text[-1500:]
    caplog.clear()
    train(compose_train("gan", ["trainer.max_steps=8"], output_dir=tmp_path / "at"))  # validated where it ended
    assert re.search(r"\n  latest val: +val/fid [\d.]+, val/precision [\d.]+, val/recall [\d.]+, val/modes \d+\n",
                     caplog.text), caplog.text[-1500:]


def test_without_a_progress_bar_every_epoch_ends_with_a_line(tmp_path, caplog):
    """A batch job's log (`trainer.enable_progress_bar=false`) said nothing from the model summary to the run's
    last lines. The validation's metrics come on the lines of the epochs that ran one, an epoch that max_steps cut
    short says so; with the bar, the lines go to the run's log alone."""
    from gan_digits.training import train

    caplog.set_level(logging.INFO)
    epochs = ["trainer.max_steps=-1", "trainer.max_epochs=3", "trainer.check_val_every_n_epoch=2"]
    train(compose_train("gan", epochs, output_dir=tmp_path / "no_bar"))
    lines = [record.getMessage() for record in caplog.records if record.getMessage().startswith("epoch ")]
    assert len(lines) == 3, lines
    assert re.fullmatch(r"epoch 1 of 3: step 8 \(4 batches\) after 0 min \d+ s of training", lines[0])
    assert re.fullmatch(r"epoch 2 of 3: step 16 \(8 batches\) after 0 min \d+ s of training; "
                        r"val/fid [0-9.]+, val/precision [0-9.]+, val/recall [0-9.]+, val/modes \d+", lines[1])
    assert re.fullmatch(r"epoch 3 of 3: step 24 \(12 batches\) after 0 min \d+ s of training", lines[2])
    caplog.clear()
    bar_off = ["trainer.enable_progress_bar=true", "callbacks.progress_bar.refresh_rate=0"]  # the bar's own way
    train(compose_train("gan", ["trainer.max_steps=4", *bar_off], output_dir=tmp_path / "cut"))  # 2 of 4 batches
    [line] = [record.getMessage() for record in caplog.records if record.getMessage().startswith("epoch ")]
    assert re.fullmatch(r"epoch 1 of 8 \(cut short: 2 of its 4 batches\): step 4 \(2 batches\) after 0 min \d+ s of "
                        r"training", line)
    caplog.clear()
    run_log = logging.FileHandler(tmp_path / "train.log")  # as Hydra's job logging opens it under train.py
    run_log.set_name(HANDLER)
    logging.getLogger().addHandler(run_log)
    try:
        train(compose_train("gan", [*epochs, "trainer.enable_progress_bar=true"], output_dir=tmp_path / "bar"))
    finally:
        logging.getLogger().removeHandler(run_log)
        run_log.close()
    assert "done: step 24" in caplog.text and not [r for r in caplog.records if r.getMessage().startswith("epoch ")]
    logged = [line for line in (tmp_path / "train.log").read_text().splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in logged] == ["epoch 1 of 3", "epoch 2 of 3", "epoch 3 of 3"]  # the log alone
