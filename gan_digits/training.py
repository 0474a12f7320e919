"""The logic behind `train.py`: build everything from the composed config, then fit."""

import logging
import re
import shlex
import signal
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import to_absolute_path
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, ModelSummary, ProgressBar, TQDMProgressBar
from lightning.pytorch.core.saving import save_hparams_to_yaml
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf
from torch.multiprocessing import ProcessExitedException, ProcessRaisedException

from gan_digits.callbacks import QualityMetrics
from gan_digits.callbacks.stop_on_signal import SIGNALS, signals_forwarded_to_spawned_ranks
from gan_digits.checkpoint import FORMAT_KEY, CheckpointError, foreign_target, load_checkpoint
from gan_digits.checks import (ConfigError, ReportedError, as_typed, check_choice, check_importable, check_int,
                               check_path, instantiate, raised_in_spawned_rank, targets)
from gan_digits.declared_types import check_declared_types
from gan_digits.model_variants import NETS, overrides_that_build
from gan_digits.module import GANModule
from gan_digits.precision import AUTO_HINT, resolve_precision
from gan_digits.process import MATMUL_PRECISIONS, PreparedProcess, prepare_process
from gan_digits.provenance import code_versions, said_versions
from gan_digits.run_dir import check_no_earlier_run, check_writable, requeued
from gan_digits.run_log import into_run_log
from gan_digits.run_summary import run_start, run_summary
from gan_digits.strategy import accelerator_kind, pick_strategy


def resume_path(cfg: DictConfig) -> tuple[str | None, str | None, int | None]:
    """The checkpoint `ckpt_path` names (`last`: this run dir's; a requeued SLURM job's own last.ckpt), checked
    before any work, the precision it trained at (None for no checkpoint, or one written before checkpoints said)
    and the step it holds (None for no checkpoint).

    Read safely and compared with the model being built, so a checkpoint of another model fails
    here with both models named, not as a shape mismatch deep in load_state_dict.
    """
    ckpt_path = cfg.get("ckpt_path")
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    if ckpt_path is None and requeued() and last.is_file():  # the same command again, in the same run dir
        rank_zero_info(f"requeued by SLURM: resuming {last}")
        ckpt_path = "last"
    if ckpt_path is None:
        return None, None, None
    if ckpt_path == "last":
        path = last
        if not path.is_file():
            raise ConfigError(
                f"ckpt_path=last: there is no {path} to resume. Resume a run in its own dir "
                "(hydra.run.dir=<that run's dir> ckpt_path=last) or name the file (ckpt_path=<path>)"
            )
    elif ckpt_path == "best" and not Path(to_absolute_path(ckpt_path)).exists():  # validate's and test's word, not fit's
        raise ConfigError("ckpt_path=best is not allowed: expected last (hydra.run.dir=<a run's dir> ckpt_path=last) or "
                          "a checkpoint's path; to go on from a run's best, name it: ckpt_path=<that run's dir>/"
                          "checkpoints/epoch<E>-fid<F>.ckpt")
    else:
        path = Path(to_absolute_path(check_path("ckpt_path", ckpt_path)))
    checkpoint = load_checkpoint(path)
    payload = checkpoint[FORMAT_KEY]
    saved = payload["model"]
    wanted = OmegaConf.to_container(cfg.model, resolve=True)
    for net in NETS:
        if saved.get(net) != wanted[net]:
            words = overrides_that_build(saved)
            how = f"give {shlex.join(words)}" if words else "give the model= and overrides it was trained with"
            raise CheckpointError(
                f"{path} holds a different {net} than this run builds: the checkpoint's is {saved.get(net)}, "
                f"this run's is {wanted[net]}. To resume it, {how}"
            )
    # The EMA copy of G is restored with the weights: a run keeps one exactly when its checkpoint holds one.
    kept = any(key.startswith("generator_ema.") for key in checkpoint.get("state_dict", {}))
    if kept != (wanted["ema_decay"] is not None):
        fix = f"model.ema_decay={as_typed(saved.get('ema_decay', 0.999))}" if kept else "model.ema_decay=null"
        raise CheckpointError(f"{path} holds {'an' if kept else 'no'} EMA of G, and this run keeps "
                              f"{'none' if kept else 'one'} (model.ema_decay={as_typed(wanted['ema_decay'])}): a resumed "
                              f"run restores the checkpoint's weights; give {fix}")
    # Their settings may change (resumed_settings.py), their kind not: the restored state fits only its own.
    for key in ("g_optimizer", "d_optimizer", "scheduler"):
        kinds = [(config or {}).get("_target_") for config in (saved.get(key), wanted[key])]
        if None not in kinds and kinds[0] != kinds[1]:
            raise CheckpointError(f"{path} was trained with model.{key}._target_={kinds[0]}, this run asks for "
                                  f"{kinds[1]}: a resumed run restores its state, which fits only the same kind")
    return str(path), payload.get("precision"), checkpoint.get("global_step", 0)


@contextmanager
def said_as_config(key: str):
    """Lightning's messages name the bad value and what is allowed; this says which part of the config it is in."""
    try:
        yield
    except ReportedError:
        raise  # ours already name their key
    except (InstantiationException, MisconfigurationException, ValueError, TypeError) as err:
        cause = err.__cause__ if isinstance(err, InstantiationException) and err.__cause__ else err
        hint = f" ({AUTO_HINT})" if key == "trainer" and "precision" in str(cause).lower() else ""
        raise ConfigError(f"{key} config: {cause}{hint}") from err


# Settings Lightning checks only once fit has begun, in each rank, against the epoch's batches or the restored
# checkpoint: by the name of the exception it raises, the words that tell its message apart, and the line to say
# ({0}: Lightning's message, {1}...: what the words caught).
FIT_TIME_REFUSALS = (
    ("ValueError", r"`val_check_interval`", "trainer config: {0} (here: trainer.check_val_every_n_epoch=null)"),
    ("MisconfigurationException", r"`limit_train_batches`|`limit_val_batches`", "trainer config: {0}"),  # under a batch
    ("MisconfigurationException",
     r"restored a checkpoint with current_epoch=(\d+), but you have set Trainer\(max_epochs=(\d+)\)",
     "trainer.max_epochs={2} is not allowed: the checkpoint this run resumes is at epoch {1} (counted from 0), past it: "
     "raise it to train on"),
)


def fit_time_refusal(kind: str, message: str) -> ConfigError | None:
    """Lightning's fit-time refusal of a trainer setting (`kind`: the exception's class name) as one line, or None
    for any other error."""
    for refused, words, line in FIT_TIME_REFUSALS:
        if refused == kind and (caught := re.search(words, message)):
            return ConfigError(line.format(message.strip(), *caught.groups()))
    return None


def refused_in_spawned_rank(traceback_text: str) -> ConfigError | None:
    """fit_time_refusal of the error a spawned rank ended on, read off its traceback's last line."""
    raised = re.findall(r"^(?:[\w.]+\.)?(\w+): (.*)$", traceback_text.rstrip(), re.M)
    return fit_time_refusal(*raised[-1]) if raised else None


@contextmanager
def signature_said_as_config(key: str):
    """A key a class does not take (`+model.generator.foo=1`, `+data.foo=1`) or a missing argument (an optimizer
    with `_partial_: false`): Hydra's four-line instantiate error as one line naming the key (Hydra's full key,
    else `key`). Any other error in the constructors keeps its traceback."""
    try:
        yield
    except InstantiationException as err:
        if not isinstance(err.__cause__, TypeError):
            raise
        where = re.search(r"full_key: (\S+)", str(err))
        raise ConfigError(f"{where.group(1) if where else key} config: {err.__cause__}") from err


def check_monitors(cfg: DictConfig, callbacks: dict[str, L.Callback], module: GANModule) -> None:
    """Each metric the run is told to watch is one it logs: a callback's monitor (the best checkpoint, early
    stopping), which Lightning would miss at the first epoch's end, stopping the run before saving that epoch;
    and a sweeper's `optimized_metric`, which train.py would miss only once the run is over. Early stopping
    needs validations too."""
    if cfg.trainer.get("limit_val_batches") == 0:  # it would train to the end, never told a value to stop on
        for key, callback in callbacks.items():
            if isinstance(callback, EarlyStopping):
                raise ConfigError(f"callbacks.{key} is not allowed with trainer.limit_val_batches=0: it stops on "
                                  f"{callback.monitor}, which only a validation logs")
    quality = any(isinstance(c, QualityMetrics) for c in callbacks.values())
    scored = QualityMetrics.metric_names(module.conditional, module.generator.codes) if quality else set()
    logged = module.metric_names() | {"epoch"} | scored
    watched = {f"callbacks.{key}.monitor": getattr(callback, "monitor", None) for key, callback in callbacks.items()}
    watched["optimized_metric"] = cfg.get("optimized_metric")
    hint = "" if quality else " (val/fid and the other quality metrics come from callbacks.quality)"
    for key, name in watched.items():
        if name is not None and name not in logged:
            raise ConfigError(f"{key}={name} is not allowed: this run logs {', '.join(sorted(logged))}{hint}")
    for key, callback in callbacks.items():  # a checkpoint's file name: Lightning writes 0 for a metric not logged
        if not isinstance(callback, ModelCheckpoint):
            continue
        for name in re.findall(r"\{(.*?)[:}]", callback.filename or ""):  # its fields, as Lightning reads them
            if name not in logged:
                raise ConfigError(f"callbacks.{key}.filename={as_typed(callback.filename)} is not allowed: it names {name}, "
                                  f"which this run does not log (it logs {', '.join(sorted(logged))}){hint}")


def matmul_precision(cfg: DictConfig) -> str:
    """The run's `float32_matmul_precision` (torch's default for a config without the key)."""
    return check_choice("float32_matmul_precision", cfg.get("float32_matmul_precision", "highest"), MATMUL_PRECISIONS)


def build_callbacks(cfg: DictConfig, module: GANModule, resuming: bool = False) -> list[L.Callback]:
    """The `callbacks` group's callbacks, a bad setting named by its key (`callbacks.early_stopping config: ...`).
    `resuming`: the run goes on from a checkpoint."""
    callbacks = {}
    for name, callback in cfg.get("callbacks", {}).items():
        with said_as_config(f"callbacks.{name}"):
            callbacks[name] = instantiate(callback)
        if isinstance(callbacks[name], TQDMProgressBar):  # Lightning compares it with the step only at the first batch
            check_int(f"callbacks.{name}.refresh_rate", callbacks[name].refresh_rate, 0)
        if isinstance(callbacks[name], ModelSummary):  # Lightning checks it as fit starts, in a traceback
            check_int(f"callbacks.{name}.max_depth", callback.get("max_depth", 1), -1,
                      why="-1: every layer, 0: no table")
    # Lightning refuses a bar or a checkpoint callback when the trainer turns them off, and would print a summary
    # the trainer turns off: the trainer's word wins.
    flags = ((ProgressBar, "enable_progress_bar"), (ModelCheckpoint, "enable_checkpointing"),
             (ModelSummary, "enable_model_summary"))
    turned_off = [kind for kind, key in flags if not cfg.trainer.get(key, True)]
    callbacks = {name: c for name, c in callbacks.items() if not isinstance(c, tuple(turned_off))}
    run_dir = Path(cfg.paths.output_dir).resolve()
    checkpoints = [c for c in callbacks.values() if isinstance(c, ModelCheckpoint)]
    if cfg.trainer.get("enable_checkpointing", True) and not checkpoints:
        # `~callbacks`: Lightning would add a checkpoint of its own, tb/checkpoints/epoch=N-step=M.ckpt, which the
        # run's summary, sample.py's example and ckpt_path=last do not find. The same one newest checkpoint, as
        # callbacks.last_checkpoint writes it: checkpoints/last.ckpt at every epoch's end.
        callbacks["last_checkpoint"] = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="last",
                                                       enable_version_counter=False, save_on_train_epoch_end=True)
    for name, callback in callbacks.items():  # a folder outside the run dir (checked already) failed at the first save
        if (folder := getattr(callback, "dirpath", None)) and not Path(folder).resolve().is_relative_to(run_dir):
            check_writable(folder, f"callbacks.{name}.dirpath")
    check_monitors(cfg, callbacks, module)
    prepared = PreparedProcess(resuming, in_memory=cfg.data.loader == "memory", matmul_precision=matmul_precision(cfg))
    return [prepared, *callbacks.values()]  # in every rank


# Lightning's lines when a trainer is built that a user of this project cannot act on: its cloud logger's advert,
# and its note that the callbacks group's model summary takes the place of its own.
NOT_FOR_USERS = ("litlogger", "Skipping setting a default `ModelSummary` callback")


def not_for_users(record: logging.LogRecord) -> bool:
    """A logging filter: False for the lines of NOT_FOR_USERS."""
    message = record.getMessage()
    return not any(text in message for text in NOT_FOR_USERS)


def check_trainer(trainer: DictConfig) -> None:
    """Trainer settings that Lightning takes and then fails on after an epoch, ignores, or refuses only once
    fit has begun (a traceback), named before any work."""
    if trainer.get("overfit_batches"):
        # Lightning swaps in a sampler of single digits, which the in-memory path cannot index by, and
        # leaves the torchvision path's batch sampler drawing new batches every epoch: neither overfits.
        raise ConfigError(f"trainer.overfit_batches={trainer.overfit_batches} is not allowed: expected 0. To train "
                          "on a few fixed digits use data.subset=<N> (e.g. data.subset=128: 2 batches of 64)")
    # train() passes the groups' own, which take the place of these: `+trainer.logger=false` still logged.
    for key, what, options in (("logger", "loggers", "logger=tensorboard"),
                               ("callbacks", "callbacks", "callbacks=default or early_stop")):
        if key in trainer:
            raise ConfigError(f"trainer.{key}={as_typed(trainer[key])} is not allowed: a run's {what} come from the {key} "
                              f"config group ({options}; ~{key} for none)")
    limit = trainer.get("limit_train_batches")
    if limit == 0 and not isinstance(limit, bool):  # Lightning then ends fit at once, without a word or a checkpoint
        raise ConfigError(f"trainer.limit_train_batches={as_typed(limit)} is not allowed: the run would train "
                          "nothing; expected an integer >= 1 (batches an epoch), a share of an epoch up to 1.0, or null")
    if trainer.get("barebones"):  # Lightning then refuses, one at a time, six settings a run here keeps on
        raise ConfigError("trainer.barebones=true is not allowed: it turns off what a run here is for (logging, "
                          "checkpoints, val/fid, the progress bar). What Lightning's own loop costs a batch, beside a "
                          "loop without it: python bench/lightning_floor.py")
    # Lightning refuses these under manual optimization, but only once fit has begun (a traceback).
    manual = "the adversarial step optimizes by hand (manual optimization), where Lightning does not"
    if clip := trainer.get("gradient_clip_val"):
        raise ConfigError(f"trainer.gradient_clip_val={clip} is not allowed: {manual} clip gradients")
    if (accumulate := trainer.get("accumulate_grad_batches", 1)) != 1:
        raise ConfigError(f"trainer.accumulate_grad_batches={accumulate} is not allowed: {manual} accumulate "
                          "gradients: for a larger batch, raise data.batch_size")
    if (max_time := trainer.get("max_time")) is not None and not isinstance(max_time, str):  # Lightning checks strings
        raise ConfigError(f"trainer.max_time={max_time} is not allowed: expected DD:HH:MM:SS (00:00:08:00 for 8 minutes), "
                          "or null")
    if (interval := trainer.get("val_check_interval")) == 0 and type(interval) is int:  # Lightning divides by it
        check_int("trainer.val_check_interval", interval, 1,
                  why="batches; or a share of an epoch from 0.0 to 1.0, a time DD:HH:MM:SS, or null: once an epoch")
    if (every := trainer.get("check_val_every_n_epoch")) is not None:  # Lightning divides by it after an epoch
        check_int("trainer.check_val_every_n_epoch", every, 1, why="or null: validate every val_check_interval batches")
    for bound in ("epochs", "steps"):
        least, most = trainer.get(f"min_{bound}"), trainer.get(f"max_{bound}")
        if most not in (None, -1):  # at 0 Lightning trains nothing; a negative one it refuses after auto's timing
            check_int(f"trainer.max_{bound}", most, 1, why="or -1: no limit")
        # Lightning stops at the max and says nothing of the min.
        if isinstance(least, int) and isinstance(most, int) and 0 <= most < least:
            raise ConfigError(f"trainer.min_{bound}={least} is not allowed: more than trainer.max_{bound}={most}, "
                              "which ends the run first")


def build(cfg: DictConfig, trained_at: str | None = None,
          resuming: bool = False) -> tuple[L.LightningDataModule, GANModule, L.Trainer]:
    """Datamodule, module and trainer from `cfg`; bad data files fail here, before any training. `resuming`: the run
    goes on from a checkpoint; `trained_at`: the precision it trained at, which `trainer.precision=auto` keeps on a
    CPU (None for a checkpoint written before checkpoints said)."""
    check_trainer(cfg.trainer)
    if (target := foreign_target(OmegaConf.to_container(cfg.model).get("generator"))) is not None:
        raise ConfigError(f"model.generator names {target}, which is not allowed: checkpoints rebuild their generator "
                          "from gan_digits classes only (a file may not name code to run), so sample.py, evaluate and "
                          "the studio could not read this run's: put the class under gan_digits/nets/ (README: Your "
                          "own networks)")
    plain = {key: node for key, node in OmegaConf.to_container(cfg, resolve=False).items() if key != "hydra"}
    for key, target in targets(plain):  # every class the config builds, checked before any is built
        check_importable(key, target)
        auto = ("precision",) if key == "trainer" else ()  # trainer.precision=auto is this project's
        check_declared_types(key, OmegaConf.select(cfg, key), skip=auto)
    # train.py's Hydra callback has checked its run dir before Hydra wrote there; this is for train(cfg) from Python.
    check_no_earlier_run(Path(cfg.paths.output_dir), cfg.get("ckpt_path"), "paths.output_dir")
    check_writable(cfg.paths.output_dir)
    prepare_process(matmul_precision(cfg))  # before auto's timing, so that it times the step as training runs it
    # Relative paths mean the folder the command was started in, not Hydra's run dir.
    with signature_said_as_config("data"):
        datamodule = instantiate(cfg.data, root=to_absolute_path(check_path("data.root", cfg.data.root)))
    if not datamodule.needs_download():
        datamodule.setup("fit")
    with signature_said_as_config("model"):
        module = instantiate(cfg.model)
    module.model_config = OmegaConf.to_container(cfg.model, resolve=True)
    callbacks = build_callbacks(cfg, module, resuming)
    loggers = [instantiate(c) for c in cfg.get("logger", {}).values()]
    # `auto` as this project runs and tests it: a CUDA GPU when there is one, else the CPU. Lightning's
    # own would take Apple's MPS (or a TPU), where nothing here has run: trainer.accelerator=mps asks for it.
    cfg.trainer.accelerator = accelerator_kind(cfg.trainer)
    with said_as_config("trainer"):
        strategy = pick_strategy(cfg.trainer)
    # `auto` becomes the precision it chose here, so the run's HPARAMS say which one trained. Outside
    # the trainer's errors: a failure in the model's timing pass is the model's, not the config's.
    cfg.trainer.precision = resolve_precision(cfg.trainer, module, cfg.data.batch_size, trained_at)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(not_for_users)  # once, however many runs
    with said_as_config("trainer"):
        trainer = instantiate(cfg.trainer, strategy=strategy, callbacks=callbacks, logger=loggers or False)
    # Too few digits for a batch or for the clusters, found in fit, came after the logger had written the run's
    # folder: checked here, where nothing is written yet, once the digits are read (no download pending).
    if datamodule.train_set is not None:
        datamodule.check_batches_fit(trainer)
        module.check_clusters_fit(datamodule.train_set.labels)
    return datamodule, module, trainer


def flatten(node, prefix: str = "") -> dict[str, str | int | float | bool]:
    """A nested config as `{"model/g_optimizer/lr": 0.0002, ...}`: what TensorBoard's HPARAMS tab shows."""
    if isinstance(node, dict):
        flat = {}
        for key, value in node.items():
            flat.update(flatten(value, f"{prefix}{key}/"))
        return flat
    return {prefix.rstrip("/"): node if isinstance(node, (str, int, float, bool)) else str(node)}


def train(cfg: DictConfig) -> dict[str, float]:
    """Seed, build and fit; returns the last logged metrics (what a sweeper minimises)."""
    L.seed_everything(check_int("seed", cfg.seed, 0, 2**32 - 1), workers=True)  # numpy's range, which Lightning seeds too
    if not HydraConfig.initialized() and OmegaConf.is_interpolation(cfg.paths, "output_dir"):
        raise ConfigError("paths.output_dir must be set: it is Hydra's run dir under train.py, and train(cfg) from "
                          "Python has none (compose(\"train\", overrides=[..., \"paths.output_dir=runs/mine\"]))")
    check_path("paths.output_dir", cfg.paths.output_dir)
    ckpt_path, trained_at, resumed_at = resume_path(cfg)
    datamodule, module, trainer = build(cfg, trained_at, resuming=ckpt_path is not None)
    rank_zero_info(run_start(trainer, cfg.paths.output_dir))
    versions = code_versions()
    if trainer.is_global_zero:
        into_run_log(said_versions(versions))  # the terminal has enough: train.log keeps which code made the run
    started = time.monotonic()
    with warnings.catch_warnings():  # the filters PreparedProcess sets at setup, for this fit alone
        try:
            with signals_forwarded_to_spawned_ranks(trainer):
                trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        except (ValueError, MisconfigurationException) as err:
            if (refusal := fit_time_refusal(type(err).__name__, str(err))) is None:
                raise
            raise refusal from err
        except ProcessRaisedException as err:  # what a spawned rank raised, as text: our errors are named as they are
            if (cause := raised_in_spawned_rank(err.msg) or refused_in_spawned_rank(err.msg)) is None:
                raise
            raise cause from err
        except ProcessExitedException as err:  # spawned ranks that ended on a signal (saved, or killed by it)
            code = 128 - err.exit_code if err.exit_code < 0 else err.exit_code
            if code - 128 not in SIGNALS:
                raise
            raise SystemExit(code) from None
        except SystemExit as stop:
            # Until training starts (callbacks.stop_on_signal's handlers) Lightning ends a SIGTERM with code 0,
            # which a scheduler reads as "finished", and a Ctrl-C with 1: end them as a shell would, 128 + signal.
            if isinstance(stop, SIGTERMException):
                raise SystemExit(128 + signal.SIGTERM) from None
            if stop.code == 1 and trainer.interrupted:
                raise SystemExit(128 + signal.SIGINT) from None
            raise
    seconds = time.monotonic() - started
    metrics = {name: float(value) for name, value in trainer.callback_metrics.items() if name != "step"}
    # Hyper-parameters beside the final metrics, so the runs of a sweep compare in the HPARAMS tab.
    # The metrics get their own names: under their usual ones they would add a point at step 0.
    params = flatten({key: OmegaConf.to_container(cfg[key], resolve=True) for key in ("model", "data", "trainer")})
    params["seed"], params["float32_matmul_precision"] = cfg.seed, matmul_precision(cfg)
    params.update({f"code/{name}": version for name, version in versions.items()})
    for logger in trainer.loggers:
        logger.log_hyperparams(params, {f"hparams/{name}": value for name, value in metrics.items()})
        if isinstance(logger, TensorBoardLogger) and trainer.is_global_zero:
            # Lightning writes tb/hparams.yaml once, at the fit's start, from what it was given by then: `{}`.
            save_hparams_to_yaml(Path(logger.log_dir) / logger.NAME_HPARAMS_FILE, logger.hparams)
        logger.finalize("success")  # fit already finalized once: flush what came after
    if trainer.is_global_zero:  # the one rank that prints (it reads last.ckpt back)
        rank_zero_info(run_summary(trainer, cfg.paths.output_dir, metrics, seconds, resumed_at,
                                   getattr(datamodule, "root", None)))
    return metrics


def objective(cfg: DictConfig, metrics: dict[str, float]) -> float | None:
    """The value of `optimized_metric` (None when unset): what train.py returns to a sweeper."""
    name = cfg.get("optimized_metric")
    if name is None:
        return None
    if name not in metrics:
        raise ConfigError(f"optimized_metric={name!r} was not logged; logged: {', '.join(sorted(metrics))}")
    return metrics[name]
