"""FID, KID, modes and label metrics of the generator during training, logged as `val/*`."""

import lightning as L

from gan_digits.metrics import QualityMeter, build_meter, distance_backbone
from gan_digits.metrics.scoring import add_generated_digits, add_real_test_digits
from gan_digits.module import GANModule

# Logged as val/<name> (val/fid is what the checkpoint callback monitors); KID's mean is val/kid.
RENAMED = {"kid_mean": "kid"}


class QualityMetrics(L.Callback):
    """Every `every_n_epochs`, `n` digits from the generator scored against the MNIST test split.

    The classifier lives here, not in the module: it is never in the GAN's checkpoints, never seen
    by its optimizers or by DDP. The real statistics are computed once. The noise is the same at
    every evaluation (seeded), so the curve moves only when the generator does. Under DDP each rank
    scores its share and the metrics are reduced collectively.
    """

    def __init__(self, every_n_epochs: int = 1, n: int = 2000, kid_subset_size: int = 1000,
                 real_limit: int | None = None, seed: int = 1234, backbone: str = "classifier",
                 inception_weights: str | None = None):
        self.every_n_epochs = every_n_epochs
        self.n = n
        self.kid_subset_size = kid_subset_size
        self.backbone = distance_backbone(backbone, inception_weights)  # here: a missing Inception stops no run midway
        self.real_limit = real_limit
        self.seed = seed
        self.meter: QualityMeter | None = None

    def setup(self, trainer: L.Trainer, pl_module: GANModule, stage: str) -> None:
        if self.meter is None:
            self.meter = build_meter(pl_module.conditional, self.kid_subset_size, self.backbone)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: GANModule) -> None:
        if trainer.sanity_checking or (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        meter = self.meter.to(pl_module.device)
        rank, world_size = trainer.global_rank, trainer.world_size
        if meter.fid.real_features_num_samples == 0:
            add_real_test_digits(meter, trainer.datamodule.root, rank, world_size, self.real_limit)
        add_generated_digits(meter, pl_module.sampler, self.n // world_size, self.seed + rank)
        metrics = meter.compute()
        meter.reset_fake()
        for name, value in metrics.items():
            pl_module.log(f"val/{RENAMED.get(name, name)}", float(value), sync_dist=False)  # already reduced
