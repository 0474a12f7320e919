"""FID, KID, modes and label metrics of the generator during training, logged as `val/*`."""

import lightning as L

from gan_digits.checks import check_int
from gan_digits.data.idx import NUM_DIGITS, SPLIT_SIZES
from gan_digits.metrics import QualityMeter, build_meter, distance_backbone
from gan_digits.metrics.quality import CODE_METRICS, CONDITIONAL_METRICS, METRICS, check_kid_subset_size
from gan_digits.metrics.scoring import add_generated_digits, add_real_test_digits
from gan_digits.module import GANModule

# Logged as val/<name> (val/fid is what the checkpoint callback monitors); KID's mean is val/kid.
RENAMED = {"kid_mean": "kid"}
# The quality metrics worth a line (docs/metrics.md), in this order, when the run logged them.
QUALITY = ("val/fid", "val/intra_fid", "val/label_acc", "val/code_purity", "val/precision", "val/recall", "val/modes")


def said_quality(metrics: dict) -> str:
    """`val/fid 0.8146, val/intra_fid 2.266, ...`: the QUALITY metrics among `metrics` (numbers or tensors), or ""."""
    return ", ".join(f"{name} {float(metrics[name]):.4g}" for name in QUALITY if name in metrics)


class QualityMetrics(L.Callback):
    """At every validation (each epoch, or each `trainer.check_val_every_n_epoch`), `n` digits from the
    generator scored against the MNIST test split: the checkpoint and early-stopping callbacks that
    monitor `val/fid` run after validations too, so they always find it.

    The classifier lives here, not in the module: it is never in the GAN's checkpoints, never seen
    by its optimizers or by DDP. The real statistics are computed once. The noise is the same at
    every evaluation (seeded), so the curve moves only when the generator does. Under DDP each rank
    scores its share and the metrics are reduced collectively.
    """

    def __init__(self, n: int = 2000, kid_subset_size: int = 1000, real_limit: int | None = None, seed: int = 1234,
                 backbone: str = "classifier", inception_weights: str | None = None):
        # Checked here, before any training: the metrics would otherwise fail at the first epoch's end,
        # and the run with them, before its first checkpoint.
        key = "callbacks.quality"
        self.real_limit = None if real_limit is None else check_int(
            f"{key}.real_limit", real_limit, 100, why="intra-class FID needs several real digits of each class")
        real = min(self.real_limit or SPLIT_SIZES["test"], SPLIT_SIZES["test"])
        self.kid_subset_size = check_kid_subset_size(f"{key}.kid_subset_size", kid_subset_size, real)
        self.n = check_int(f"{key}.n", n, max(self.kid_subset_size, 2 * NUM_DIGITS), SPLIT_SIZES["train"],  # as evaluate
                           why=f"KID draws subsets of kid_subset_size={self.kid_subset_size} generated digits, "
                               "and intra-class FID needs 2 of each digit")
        self.backbone = distance_backbone(backbone, inception_weights)  # here: a missing Inception stops no run midway
        self.seed = seed
        self.meter: QualityMeter | None = None
        self.scored_at: int | None = None  # the step of the latest validation: a run's summary says it if it ended later

    def state_dict(self) -> dict[str, int | None]:
        return {"scored_at": self.scored_at}

    def load_state_dict(self, state_dict: dict[str, int | None]) -> None:
        self.scored_at = state_dict.get("scored_at")

    @staticmethod
    def metric_names(conditional: bool, codes: int | None = None) -> set[str]:
        """What it logs, known before a run: the names the callbacks that monitor a metric may watch."""
        names = METRICS + (CONDITIONAL_METRICS if conditional else ()) + (CODE_METRICS if codes else ())
        return {f"val/{RENAMED.get(name, name)}" for name in names}

    def setup(self, trainer: L.Trainer, pl_module: GANModule, stage: str) -> None:
        if self.meter is None:
            self.meter = build_meter(pl_module.conditional, self.kid_subset_size, self.backbone,
                                     pl_module.generator.codes)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: GANModule) -> None:
        if trainer.sanity_checking:
            return
        meter = self.meter.to(pl_module.device)
        rank, world_size = trainer.global_rank, trainer.world_size
        if meter.fid.real_features_num_samples == 0:
            test = trainer.datamodule.test_set
            add_real_test_digits(meter, test.images, test.labels, rank, world_size, self.real_limit)
        add_generated_digits(meter, pl_module.sampler, -(-self.n // world_size), self.seed + rank)  # n at least, in all
        metrics = meter.compute()
        meter.reset_fake()
        self.scored_at = trainer.global_step
        for name, value in metrics.items():
            # Already reduced, the same on every rank: reducing again by max returns it exactly (a mean of
            # three copies might not) and spares a DDP run Lightning's advice to sync it, once a metric.
            pl_module.log(f"val/{RENAMED.get(name, name)}", float(value), sync_dist=True, reduce_fx="max")
