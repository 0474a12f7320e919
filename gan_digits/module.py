"""The LightningModule: one adversarial step (D, then G) for every model, by manual optimization."""

import copy
import functools
import inspect
import math
from collections.abc import Callable

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.strategies import SingleDeviceStrategy
from lightning.pytorch.utilities import rank_zero_info

from gan_digits.checkpoint import FORMAT_KEY, checkpoint_payload
from gan_digits.checks import ConfigError, as_typed, check_choice, check_int, check_number, check_positive, check_weight
from gan_digits.cuda_graph import GraphedStep
from gan_digits.data.idx import NUM_DIGITS
from gan_digits.losses import BCELoss, check_loss, mode_seeking_loss, mode_seeking_pairs
from gan_digits.nets.clusters import check_clusters_fit, fit_clusters
from gan_digits.nets.contract import Discriminator, Generator
from gan_digits.resumed_epoch import count_saved_epoch_once
from gan_digits.resumed_settings import carry_settings_into, module_settings_changed

# The fixed-noise grid: 8 columns; a conditional model gets one row per digit 0-9.
GRID_COLUMNS = 8
UNCONDITIONAL_GRID_ROWS = 8

# The scalars of every logged step (train/<name>) and validation (val/<name>); d_real and d_fake are the
# mean sigmoid of D's output on real and generated digits (with BCE, the probability that they are real).
SCALARS = ("d_loss", "g_loss", "d_real", "d_fake")
MODE_SEEKING = "train/mode_seeking"  # with model.diversity_weight: rises as same-digit fakes grow alike
LEARNING_RATES = ("train/g_lr", "train/d_lr")  # with model.scheduler: each optimizer's rate as it goes

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler]


def built_on_probe(factory: Callable, probe) -> object:
    """What `factory(probe)` builds, or the first line of the error it raised: a config's optimizer or
    scheduler tried on a throwaway, so that a bad setting fails in one line before anything is built, not
    deep in `fit`."""
    try:
        return factory(probe)
    except Exception as err:  # not callable, an unknown or missing argument, a value torch refuses, a short list
        return str(err).splitlines()[0]


def described(factory: Callable) -> str:
    """A config's `_partial_` target as typed (`torch.optim.lr_scheduler.StepLR(gamma=0.5)`), else its repr."""
    if not isinstance(factory, functools.partial):
        return repr(factory)
    arguments = ", ".join(f"{key}={value!r}" for key, value in factory.keywords.items())
    return f"{factory.func.__module__}.{factory.func.__qualname__}({arguments})"


def arguments_not_taken(factory: Callable) -> list[str]:
    """The keyword arguments of a config's `_partial_` target that its class takes no parameter for."""
    if not isinstance(factory, functools.partial):
        return []
    try:
        parameters = inspect.signature(factory.func).parameters
    except (TypeError, ValueError):  # no signature to read (a builtin): the class's own error will say
        return []
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values()):
        return []
    return [name for name in factory.keywords if name not in parameters]


def check_optimizer(key: str, optimizer: OptimizerFactory) -> OptimizerFactory:
    """`optimizer` if it builds an optimizer (on a throwaway parameter: a bad `model.g_optimizer` setting,
    betas say, names the key), or a ConfigError naming it."""
    if "lr" in getattr(optimizer, "keywords", {}):
        check_positive(f"{key}.lr", optimizer.keywords["lr"])  # torch takes 0, which would train nothing
    if unknown := arguments_not_taken(optimizer):  # Adam's betas and fused, left behind when swapping in RMSprop
        leave_out = " ".join(f"~{key}.{name}" for name in unknown)
        raise ConfigError(f"{key} is not allowed: {optimizer.func.__name__} takes no {', '.join(unknown)}: leave "
                          f"{'them' if len(unknown) > 1 else 'it'} out with {leave_out}")
    built = built_on_probe(optimizer, [torch.zeros(1, requires_grad=True)])
    if not isinstance(built, torch.optim.Optimizer):
        raise ConfigError(f"{key} is not allowed ({built}): expected a torch optimizer, e.g. "
                          "{_target_: torch.optim.Adam, _partial_: true, lr: 2.0e-4, betas: [0.5, 0.999]}")
    return optimizer


def first_step_fails(scheduler: torch.optim.lr_scheduler.LRScheduler) -> str | None:
    """Why a schedule built on the probe (lr 1) fails its first step, which a run takes at its first epoch's end: a
    setting of the wrong type (`step_size: abc`) fails only there, a traceback an epoch in, and a factor below zero
    (`gamma: -1`) would train uphill without a word. None when it steps to a rate >= 0."""
    scheduler.optimizer.step()  # as training does first: torch warns of a schedule stepped before its optimizer
    try:
        scheduler.step()
    except Exception as err:
        return f"at its first step: {str(err).splitlines()[0]}"
    factor = scheduler.get_last_lr()[0]
    if not (math.isfinite(factor) and factor >= 0):
        return f"after its first step the learning rate is {factor:g} times the optimizer's: expected >= 0"
    return None


def check_scheduler(scheduler: SchedulerFactory | None) -> SchedulerFactory | None:
    """`scheduler` if it builds a learning-rate scheduler (on a throwaway optimizer) and steps, or a ConfigError
    naming it."""
    if scheduler is None:
        return None
    built = built_on_probe(scheduler, torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0))
    if isinstance(built, torch.optim.lr_scheduler.ReduceLROnPlateau):
        built = "it steps on a metric; the schedulers here step after every epoch on their own"
    elif isinstance(built, torch.optim.lr_scheduler.LRScheduler) and (failed := first_step_fails(built)):
        built = failed
    if not isinstance(built, torch.optim.lr_scheduler.LRScheduler):
        raise ConfigError(f"model.scheduler={described(scheduler)} is not allowed ({built}): expected null or a torch "
                          "scheduler, e.g. {_target_: torch.optim.lr_scheduler.ExponentialLR, _partial_: true, gamma: 0.7}")
    return scheduler


class GANModule(L.LightningModule):
    """Trains `generator` against `discriminator` with two optimizers.

    A step is one optimizer update, as Lightning counts them in `global_step`: each batch takes
    two (D, then G), so `trainer.max_steps=1000` trains 500 batches. TensorBoard's x-axis is this
    step everywhere (scalars and images).
    """

    def __init__(
        self,
        generator: Generator,
        discriminator: Discriminator,
        g_optimizer: OptimizerFactory,
        d_optimizer: OptimizerFactory,
        loss: BCELoss | None = None,
        fixed_noise_seed: int = 0,
        ema_decay: float | None = None,
        code_weight: float = 1.0,
        diversity_weight: float = 0.0,
        scheduler: SchedulerFactory | None = None,
        cuda_graph: bool = True,
    ):
        super().__init__()
        for key, net, contract in (("generator", generator, Generator), ("discriminator", discriminator, Discriminator)):
            if not isinstance(net, contract):  # callbacks, metrics and the sampler talk to the contract alone
                raise ConfigError(f"model.{key} builds a {type(net).__name__}, which is not allowed: expected a "
                                  f"subclass of gan_digits.nets.{contract.__name__} (README: Your own networks)")
        for key, why in (("num_classes", "a conditional model needs both conditional, with the same classes"),
                         ("latent_codes", "D must tell back the codes G draws from"),
                         ("clusters", "D must score each image against the cluster G drew it from")):
            g_value, d_value = (getattr(net, key) for net in (generator, discriminator))
            if g_value != d_value:
                raise ConfigError(f"model.generator.{key}={as_typed(g_value)} but model.discriminator.{key}="
                                  f"{as_typed(d_value)}: {why}")
        if generator.num_classes not in (None, NUM_DIGITS):  # the labels the data gives are the digits 0..9
            raise ConfigError(f"model.generator.num_classes={generator.num_classes} is not allowed: expected "
                              f"{NUM_DIGITS} (MNIST's digits), or null for an unconditional model")
        self.code_weight = check_positive("model.code_weight", code_weight)
        self.diversity_weight = check_weight("model.diversity_weight", diversity_weight)
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = discriminator
        self.g_optimizer = check_optimizer("model.g_optimizer", g_optimizer)
        self.d_optimizer = check_optimizer("model.d_optimizer", d_optimizer)
        self.scheduler = check_scheduler(scheduler)
        # On one GPU at 32-true precision: capture the whole step once, replay it (cuda_graph.py).
        self.cuda_graph = check_choice("model.cuda_graph", cuda_graph, (True, False))
        self.graphed_step: GraphedStep | None = None
        self.loss = check_loss(loss or BCELoss())
        # An exponential moving average of G's weights samples better than G itself (less jitter
        # from the adversarial game); it is what grids, metrics and sample.py use when on.
        if ema_decay is not None:
            check_number("model.ema_decay", ema_decay, lambda v: 0 < v < 1, "a number in (0, 1), or null for no EMA")
        self.ema_decay = ema_decay
        self.generator_ema = copy.deepcopy(generator).requires_grad_(False) if ema_decay else None
        # The model's resolved config (plain types), written into every checkpoint so that
        # `sample.py` can rebuild the generator without this code's constructor arguments.
        self.model_config: dict | None = None
        self.last_train_scalars: dict[str, torch.Tensor] = {}

        # The same noise (and labels) every time a grid is drawn, saved with the weights.
        # With latent codes, one row per code, as a conditional model has one per digit.
        rows = generator.num_classes or generator.latent_codes or UNCONDITIONAL_GRID_ROWS
        noise = torch.Generator().manual_seed(check_int("model.fixed_noise_seed", fixed_noise_seed, 0))
        fixed_z = torch.randn(rows * GRID_COLUMNS, generator.latent_dim, generator=noise)
        if generator.latent_codes:
            fixed_z = generator.with_code(fixed_z, torch.arange(rows).repeat_interleave(GRID_COLUMNS))
        self.register_buffer("fixed_z", fixed_z)
        fixed_y = torch.arange(rows).repeat_interleave(GRID_COLUMNS) if self.conditional else None
        self.register_buffer("fixed_y", fixed_y)

    @property
    def conditional(self) -> bool:
        return self.generator.num_classes is not None

    @property
    def latent_dim(self) -> int:
        return self.generator.latent_dim

    @property
    def sampler(self) -> Generator:
        """The generator to draw samples from: the EMA copy when there is one."""
        return self.generator_ema if self.generator_ema is not None else self.generator

    @torch.no_grad()
    def _update_ema(self) -> None:
        # Warm-up: early on the average follows G closely, instead of remembering its random start.
        step = self.global_step // 2  # batches so far: two optimizer steps each
        decay = min(self.ema_decay, (1 + step) / (10 + step))
        # One fused kernel per list, not one per tensor: on a CPU the per-tensor loop cost ~5% of an MLP step.
        torch._foreach_lerp_(list(self.generator_ema.parameters()), list(self.generator.parameters()), 1.0 - decay)
        if buffers := list(self.generator_ema.buffers()):  # batch norm's statistics; an MLP G of one layer has none
            torch._foreach_copy_(buffers, list(self.generator.buffers()))

    def fake_clusters(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor | None:
        """With `clusters`, the cluster G drew each fake from: D scores it against that one."""
        return self.generator.cluster(z, y) if self.generator.clusters else None

    def configure_optimizers(self):
        optimizers = [self.g_optimizer(self.generator.parameters()), self.d_optimizer(self.discriminator.parameters())]
        if self.scheduler is None:
            return optimizers
        return optimizers, [self.scheduler(optimizer) for optimizer in optimizers]

    def on_train_epoch_end(self) -> None:
        # Manual optimization steps its schedulers itself: once per epoch, both nets alike. Lightning also
        # ends an epoch cut short (max_steps, a signal), whose resumed run trains the rest of it at the
        # same rates; and a run resumed from an end-of-epoch checkpoint replays that epoch's end.
        if self.trainer.fit_loop.epoch_loop.batch_progress.current.completed < self.trainer.num_training_batches:
            return
        schedulers = [s for s in self.lr_schedulers() or [] if s.last_epoch <= self.current_epoch]
        for scheduler in schedulers:
            scheduler.step()
        if schedulers and self.graphed_step is not None:
            self.graphed_step.reset()  # its capture holds the old rates

    def on_fit_start(self) -> None:
        # seed_everything gives every rank the same seed; offset it so ranks draw different noise.
        if self.trainer.world_size > 1:
            torch.manual_seed(torch.initial_seed() + self.global_rank)
        # A resumed run (`ckpt_path`) has loaded its checkpoint by now, whose buffers hold the clusters:
        # fitting them again would cost seconds (~9 for dcgan's manifold clusters on a 2-core CPU) for
        # the same values. Seeded and deterministic, so every rank fits the same.
        if self.generator.clusters and self.trainer.ckpt_path is None:
            digits = self.trainer.datamodule.train_set
            centroids, members, sizes = fit_clusters(digits.images, *self._cluster_settings(digits.labels))
            for generator in filter(None, (self.generator, self.generator_ema)):
                generator.set_cluster_sizes(sizes)
            self.discriminator.set_clusters(centroids, members)

    def _cluster_settings(self, labels: torch.Tensor) -> tuple:
        """`fit_clusters`' arguments after the digits: k, the labels that group them (a conditional model's), the
        number of groups and the fine centroids."""
        return (self.generator.clusters, labels if self.conditional else None, self.generator.num_classes,
                self.discriminator.fine_clusters)

    def check_clusters_fit(self, labels: torch.Tensor) -> None:
        """The clusters `on_fit_start` will fit, checked against the training digits' `labels` before fit."""
        if self.generator.clusters:
            check_clusters_fit(len(labels), *self._cluster_settings(labels))

    def _code_loss(self, code_logits: torch.Tensor | None, z: torch.Tensor) -> torch.Tensor | float:
        """InfoGAN's term (with `latent_codes`): how badly D reads the code G drew each fake from."""
        if code_logits is None:
            return 0.0
        return self.code_weight * F.cross_entropy(code_logits.float(), self.generator.code(z))

    def _optimizer_step(self, optimizer, loss: torch.Tensor) -> None:
        """zero_grad -> manual_backward -> step, inside `toggled_optimizer(optimizer)`."""
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        optimizer.step()

    def adversarial_step(self, real: torch.Tensor, y: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """One D update, then one G update; returns the step's scalars, detached on the device.

        Free of host syncs and of Python state that changes from step to step, so that on a GPU
        the whole of it can be captured once as a CUDA graph and replayed (cuda_graph.py).
        """
        g_opt, d_opt = self.optimizers()
        z = torch.randn(real.shape[0], self.latent_dim, device=real.device)
        # The fakes are drawn for the real digits' labels, paired up for the mode-seeking term.
        fake_y = mode_seeking_pairs(y) if self.diversity_weight and y is not None else y
        fake, fake_clusters = self.generator(z, fake_y), self.fake_clusters(z, fake_y)

        # Each net's forward runs inside its toggle (only that optimizer's weights require grad), as in
        # Lightning's GAN example: scoring the fakes for G's loss with D's weights frozen keeps them out
        # of the graph, so G's backward computes no gradients for D (~6% of a cdcgan step, profiled).
        # D: real -> 1, fake -> 0, on a detached fake so no gradient reaches G.
        with self.toggled_optimizer(d_opt):
            real_logits = self.discriminator(real, y)
            fake_logits, code_logits = self.discriminator.score(fake.detach(), fake_y, fake_clusters)
            d_loss = self.loss.discriminator(real_logits, fake_logits) + self._code_loss(code_logits, z)
            self._optimizer_step(d_opt, d_loss)

        # G: make the freshly updated D say 1 on the same fakes (and read back their codes).
        with self.toggled_optimizer(g_opt):
            g_logits, code_logits = self.discriminator.score(fake, fake_y, fake_clusters)
            g_loss = self.loss.generator(g_logits) + self._code_loss(code_logits, z)
            if self.diversity_weight:
                mode_seeking = mode_seeking_loss(fake, z)
                g_loss = g_loss + self.diversity_weight * mode_seeking
            self._optimizer_step(g_opt, g_loss)
        scalars = self._scalars("train", d_loss, g_loss, real_logits, fake_logits)
        if self.diversity_weight:
            scalars[MODE_SEEKING] = mode_seeking.detach()
        return scalars

    def on_train_start(self) -> None:
        # After the optimizers' states are restored (a resumed run), which would reset `capturable`.
        for optimizer in self.optimizers():
            for group in optimizer.param_groups:
                group["capturable"] = False  # eager updates; GraphedStep turns it on for its own
        self.graphed_step = None
        if not self.cuda_graph or self.device.type != "cuda":
            return
        strategy = self.trainer.strategy
        if not isinstance(strategy, SingleDeviceStrategy) or self.trainer.precision != "32-true":
            rank_zero_info(f"model.cuda_graph: eager steps instead, the graph is for one GPU at 32-true precision "
                           f"(this run: {type(strategy).__name__}, precision {self.trainer.precision})")
            return
        self.graphed_step = GraphedStep(self.adversarial_step, self.optimizers())

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        real, labels = batch
        y = labels if self.conditional else None
        step = self.graphed_step or self.adversarial_step
        self.last_train_scalars = step(real, y)  # kept every step for the divergence guard (it reads them now and then)
        if self.generator_ema is not None:
            self._update_ema()
        # Lightning writes step metrics every log_every_n_steps batches; a self.log costs about a
        # millisecond on CPU, a fifth of an MLP GAN's step, so log only when it will be written.
        if self.trainer._logger_connector.should_update_logs:
            self._log_scalars(self.last_train_scalars, on_step=True, batch_size=real.shape[0])
            if self.scheduler is not None:
                rates = [optimizer.param_groups[0]["lr"] for optimizer in self.optimizers()]
                self.log_dict(dict(zip(LEARNING_RATES, rates)), on_step=True, on_epoch=False, batch_size=real.shape[0])

    def on_validation_model_eval(self) -> None:
        # G samples on its running statistics, as sample.py does. D keeps batch statistics, the only
        # way it ever scores in training (its running mean mixes real and fake batches), so that
        # val/d_* compare with train/d_*: held-out digits scored lower than training ones = D memorises.
        super().on_validation_model_eval()
        self.discriminator.train()

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        real, labels = batch
        y = labels if self.conditional else None
        z = torch.randn(real.shape[0], self.latent_dim, device=real.device)
        fake = self.sampler(z, y)
        real_logits = self.discriminator(real, y)
        fake_logits = self.discriminator.score(fake, y, self.fake_clusters(z, y))[0]
        d_loss = self.loss.discriminator(real_logits, fake_logits)
        g_loss = self.loss.generator(fake_logits)
        self._log_scalars(self._scalars("val", d_loss, g_loss, real_logits, fake_logits), on_step=False,
                          batch_size=real.shape[0])

    @staticmethod
    def _scalars(stage, d_loss, g_loss, real_logits, fake_logits) -> dict[str, torch.Tensor]:
        """Detached device tensors: Lightning reads them only when it writes, so no sync per step."""
        d_real, d_fake = (torch.sigmoid(logits.detach().float()).mean() for logits in (real_logits, fake_logits))
        return dict(zip((f"{stage}/{name}" for name in SCALARS), (d_loss.detach(), g_loss.detach(), d_real, d_fake)))

    def metric_names(self) -> set[str]:
        """What it logs, known before a run: the names the callbacks that monitor a metric may watch."""
        names = {f"{stage}/{name}" for stage in ("train", "val") for name in SCALARS} | {"step"}  # _log_scalars' x-axis
        names |= {MODE_SEEKING} if self.diversity_weight else set()
        return names | (set(LEARNING_RATES) if self.scheduler else set())

    def _log_scalars(self, metrics: dict[str, torch.Tensor], on_step: bool, batch_size: int) -> None:
        on_epoch = not on_step
        self.log_dict(metrics, prog_bar=on_step, on_step=on_step, on_epoch=on_epoch, sync_dist=on_epoch,
                      batch_size=batch_size)
        # A metric named "step" sets the logger's x-axis: make it the optimizer step (see class doc).
        self.log("step", float(self.global_step), on_step=on_step, on_epoch=on_epoch, reduce_fx="max", sync_dist=on_epoch)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.model_config is not None:
            checkpoint[FORMAT_KEY] = checkpoint_payload(self.model_config, str(self.trainer.precision))
        # Lightning saves no RNG state; the noise stream must continue where it was to resume exactly.
        checkpoint["rng_state"] = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            checkpoint["rng_state"]["cuda"] = torch.cuda.get_rng_state_all()

    def carry_settings_into(self, checkpoint: dict) -> list[str]:
        """Write this run's optimizer and scheduler settings into `checkpoint`'s states, where its config
        changes them, before they are restored (resumed_settings.py); one line for each, and for each of the
        module's own settings its config changes."""
        saved = checkpoint.get(FORMAT_KEY, {}).get("model")
        if saved is None or self.model_config is None:
            return []
        factories = {"g_optimizer": self.g_optimizer, "d_optimizer": self.d_optimizer, "scheduler": self.scheduler}
        key = "fixed_noise_seed"
        if key in saved and saved[key] != self.model_config.get(key):  # the grids' noise, drawn from this run's seed
            checkpoint["state_dict"]["fixed_z"] = self.fixed_z.detach().clone()
        return (carry_settings_into(checkpoint, saved, self.model_config, factories)
                + module_settings_changed(saved, self.model_config))

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # Called before Lightning restores the optimizers' and schedulers' states, and its loops', from `checkpoint`.
        count_saved_epoch_once(checkpoint, self.trainer.max_steps)
        for line in self.carry_settings_into(checkpoint):
            rank_zero_info(f"resumed with {line}: this run's setting from here on")
        rng = checkpoint.get("rng_state", {})
        if "cpu" in rng:
            torch.set_rng_state(rng["cpu"])
        if "cuda" in rng and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(rng["cuda"])
