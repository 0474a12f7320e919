"""Sample quality from one pass over generated digits against real ones: the project's yardstick.

- `fid`, `kid_mean`, `kid_std`: torchmetrics' FID and KID on the feature classifier's features
  (or, with an Inception `backbone`, on Inception-v3's: the standard FID).
- `precision`, `recall` (precision_recall.py): the share of generated digits that lie among real ones (are
  they digits?) and of real digits that lie among generated ones (is every kind drawn?), on the same features.
- `modes`: digits that hold at least 5% of the samples (0-10): fewer than 10 = mode collapse.
- `class_kl`: KL divergence of the predicted-digit histogram from uniform (0 = balanced).
- `confidence`: the classifier's mean top probability (low = malformed digits).
- conditional only: `label_acc` (the classifier reads the digit asked for) and `intra_fid` (the
  mean over digits of the FID between that digit's samples and that digit's real images: high
  when a generator ignores its noise and draws one image per label).
- codes only (InfoGAN's, or a self-conditioned model's clusters): `code_purity`, the share of samples
  that are the digit their code draws most often (1 = each code one digit; for InfoGAN's codes its
  unsupervised classification accuracy on MNIST).
"""

import warnings

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance
from torchmetrics.utilities.data import dim_zero_cat

from gan_digits.checks import UserInputError, check_choice, check_int
from gan_digits.data.idx import NUM_DIGITS
from gan_digits.metrics.classifier import FeatureExtractor, load_classifier
from gan_digits.metrics.inception import InceptionFeatures
from gan_digits.metrics.precision_recall import NEIGHBOURS, knn_radii, precision_recall

MODE_SHARE = 0.05
KID_SUBSET_SEED = 0
# What QualityMeter.compute() returns: for every model, and for conditional models besides.
METRICS = ("fid", "kid_mean", "kid_std", "precision", "recall", "modes", "class_kl", "confidence")
CONDITIONAL_METRICS = ("label_acc", "intra_fid")
CODE_METRICS = ("code_purity",)  # for samples given with their codes (InfoGAN's, or clusters)


class _Precomputed(nn.Module):
    """The `feature=` module of the torchmetrics metrics: features go in already extracted.

    The backbone runs once per batch and its features feed FID, KID and the intra-class FIDs
    alike, instead of once per metric.
    """

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


class QualityMeter(nn.Module):
    """Accumulates real and generated uint8 digits `(B, 1, 28, 28)`; `compute()` returns every metric.

    FID and KID use the classifier's features, or those of `backbone` when given (e.g.
    InceptionFeatures); the digit metrics always use the classifier. Features are float64 in the
    statistics (torchmetrics keeps its sums in double).

    Real statistics survive `reset_fake()`, so a training run reads the real digits once. Under DDP
    every rank updates with its own share and `compute()` is collective: call it on every rank.
    """

    def __init__(self, extractor: FeatureExtractor, conditional: bool, kid_subset_size: int = 1000,
                 backbone: nn.Module | None = None, codes: int | None = None):
        super().__init__()
        self.extractor = extractor
        self.backbone = backbone
        self.conditional = conditional
        self.kid_subset_size = kid_subset_size
        width = (backbone or extractor).num_features
        self.fid = FrechetInceptionDistance(feature=_Precomputed(width), reset_real_features=False)
        with warnings.catch_warnings():
            # Its warning that it keeps every feature is for datasets: here the 10,000 test digits and
            # the n generated ones, `width` floats each (128 on the classifier: ~6 MB at n=2,000).
            warnings.filterwarnings("ignore", message="Metric `Kernel Inception Distance` will save all extracted")
            self.kid = KernelInceptionDistance(feature=_Precomputed(width), subset_size=kid_subset_size,
                                               reset_real_features=False)
        self.intra = nn.ModuleList(
            FrechetInceptionDistance(feature=_Precomputed(width), reset_real_features=False)
            for _ in range(NUM_DIGITS if conditional else 0)
        )
        self.register_buffer("predicted", torch.zeros(NUM_DIGITS, dtype=torch.float64))
        self.register_buffer("confidence_sum", torch.zeros((), dtype=torch.float64))
        # Per digit asked for (conditional): samples read as that digit, and samples asked to be it.
        self.register_buffer("label_hits", torch.zeros(NUM_DIGITS, dtype=torch.float64))
        self.register_buffer("asked_counts", torch.zeros(NUM_DIGITS, dtype=torch.float64))
        # How often each of `codes` codes drew each digit (as the classifier reads it).
        self.register_buffer("code_digits", torch.zeros(codes or 0, NUM_DIGITS, dtype=torch.float64))
        self.real_radii: torch.Tensor | None = None  # precision's real manifold, found once (the real digits stay)

    def distance_features(self, images: torch.Tensor, classifier_features: torch.Tensor | None = None) -> torch.Tensor:
        """The features FID and KID compare: the backbone's, or the classifier's own."""
        if self.backbone is not None:
            return self.backbone(images)
        return self.extractor(images) if classifier_features is None else classifier_features

    def update_real(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.update_real_features(self.distance_features(images), labels)

    def update_real_features(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Real digits given by their `distance_features`: features computed once may feed several meters."""
        self.real_radii = None
        self.fid.update(features, real=True)
        self.kid.update(features, real=True)
        for digit, metric in enumerate(self.intra):
            metric.update(features[labels == digit], real=True)

    def update_fake(self, images: torch.Tensor, asked: torch.Tensor | None = None,
                    codes: torch.Tensor | None = None) -> None:
        """Generated digits, with the digits they were asked to be (conditional models) or the codes they were
        drawn from (a meter built with `codes`)."""
        if self.conditional and asked is None:
            raise ValueError("a conditional model's samples need the digits they were asked for")
        classifier_features = self.extractor(images)
        features = self.distance_features(images, classifier_features)
        self.fid.update(features, real=False)
        self.kid.update(features, real=False)
        probabilities = self.extractor.classify(classifier_features).double()
        top, predicted = probabilities.max(dim=1)
        self.predicted += torch.bincount(predicted, minlength=NUM_DIGITS).double()
        self.confidence_sum += top.sum()
        if codes is not None:
            self.code_digits.index_put_((codes, predicted), torch.ones_like(top), accumulate=True)
        if self.conditional:
            self.label_hits += torch.bincount(asked[predicted == asked], minlength=NUM_DIGITS).double()
            self.asked_counts += torch.bincount(asked, minlength=NUM_DIGITS).double()
            for digit, metric in enumerate(self.intra):
                metric.update(features[asked == digit], real=False)

    def reset_fake(self, conditional: bool | None = None) -> None:
        """Forget the generated digits, keeping the real statistics; `conditional`: how the next ones are scored
        (a meter built conditional, which holds each digit's real statistics, scores an unconditional set too)."""
        if conditional is not None:
            if conditional and not self.intra:
                raise ValueError("a meter built unconditional holds no per-digit real statistics to score "
                                 "digits asked for")
            self.conditional = conditional
        for metric in (self.fid, self.kid, *self.intra):
            metric.reset()  # reset_real_features=False: the real statistics stay
        for buffer in (self.predicted, self.confidence_sum, self.label_hits, self.asked_counts, self.code_digits):
            buffer.zero_()

    def compute(self) -> dict[str, float]:
        counts = self._synced(self.predicted)
        total = counts.sum()
        if total < self.kid_subset_size:
            raise UserInputError(
                f"{int(total)} digits to score are fewer than KID's subset size {self.kid_subset_size}: "
                f"score at least {self.kid_subset_size} (n=) or lower kid_subset_size"
            )
        share = counts / total
        # KID averages over random subsets drawn from the global CPU generator: drawn from a fixed seed
        # on a forked one, the score is the same every time (and on every rank) and training's noise
        # stream is left where it was.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(KID_SUBSET_SEED)
            kid_mean, kid_std = self.kid.compute()
        precision, recall = self._precision_recall()
        metrics = {
            "fid": float(self.fid.compute()),
            "kid_mean": float(kid_mean),
            "kid_std": float(kid_std),
            "precision": precision,
            "recall": recall,
            "modes": int((share >= MODE_SHARE).sum()),
            "class_kl": float((share * (share * NUM_DIGITS).log()).nan_to_num().sum()),
            "confidence": float(self._synced(self.confidence_sum) / total),
        }
        if self.conditional:
            metrics["label_acc"] = float(self._synced(self.label_hits).sum() / total)
            metrics["intra_fid"] = float(self._intra_fids().nanmean())  # over the digits asked for
        code_digits = self._synced(self.code_digits) if len(self.code_digits) else self.code_digits
        if code_digits.sum() > 0:  # digits given with their codes (a real-data floor has none)
            metrics["code_purity"] = float(code_digits.amax(dim=1).sum() / total)
        return metrics

    def _precision_recall(self) -> tuple[float, float]:
        """Precision and recall on the features KID keeps (every rank's, under DDP: collective, as `compute()`)."""
        with self.kid.sync_context():
            real, fake = dim_zero_cat(self.kid.real_features), dim_zero_cat(self.kid.fake_features)
        if self.real_radii is None:
            self.real_radii = knn_radii(real.float())
        return precision_recall(real, fake, self.real_radii)

    def per_digit(self) -> dict[str, list[float]]:
        """Digit by digit, 0..9: its share of the samples as the classifier reads them and, for a conditional model,
        the share of the samples asked to be it that read as it (`label_acc`) and its intra-class FID: NaN for a
        digit not asked for. Collective under DDP, as `compute()`."""
        counts = self._synced(self.predicted)
        table = {"share": (counts / counts.sum()).tolist()}
        if self.conditional:
            table["label_acc"] = (self._synced(self.label_hits) / self._synced(self.asked_counts)).tolist()
            table["intra_fid"] = self._intra_fids().tolist()
        return table

    def per_code(self) -> dict[str, list[float]] | None:
        """Code by code (a meter given codes: InfoGAN's, or clusters): the digit it draws most, the share of its
        samples that are that digit (`purity`) and its share of all samples; None without codes. A code none of the
        samples drew (a cluster that holds no training digit): NaN digit and purity. Collective under DDP."""
        if not len(self.code_digits):
            return None
        counts = self._synced(self.code_digits)
        drawn = counts.sum(dim=1)
        top, digit = counts.max(dim=1)
        digits = [d if n > 0 else float("nan") for d, n in zip(digit.tolist(), drawn.tolist())]
        return {"digit": digits, "purity": (top / drawn).tolist(), "share": (drawn / drawn.sum()).tolist()}

    def _intra_fids(self) -> torch.Tensor:
        """Each digit's intra-class FID; NaN for one with fewer than two samples, whose covariance is undefined (an
        npz may hold only some digits)."""
        fids = [float(m.compute()) if self._synced(m.fake_features_num_samples.clone()) >= 2 else float("nan")
                for m in self.intra]
        return torch.tensor(fids, dtype=torch.float64)

    @staticmethod
    def _synced(value: torch.Tensor) -> torch.Tensor:
        """The sum over ranks (a no-op without torch.distributed)."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            value = value.clone()
            torch.distributed.all_reduce(value)
        return value


BACKBONES = ("classifier", "inception")


def distance_backbone(name: str = "classifier", inception_weights: str | None = None,
                      prefix: str = "metrics.") -> nn.Module | None:
    """The `backbone` of a QualityMeter for `metrics.backbone=name` (None: the classifier's features). `prefix`:
    where the settings are, as the command names them (none for evaluate's `backbone=`)."""
    check_choice(f"{prefix}backbone", name, BACKBONES)
    return InceptionFeatures(inception_weights, prefix) if name == "inception" else None


def check_kid_subset_size(key: str, value, real_digits: int) -> int:
    """`value` if KID can draw subsets of that many from `real_digits` real digits (and as many generated), and
    precision and recall find each digit's k nearest neighbours among at least that many generated ones."""
    return check_int(key, value, NEIGHBOURS + 1, real_digits,
                     why=f"KID draws subsets of that many of the {real_digits} real test digits scored, and precision "
                         f"and recall need more than {NEIGHBOURS} generated digits")


def build_meter(conditional: bool, kid_subset_size: int = 1000, backbone: nn.Module | None = None,
                codes: int | None = None) -> QualityMeter:
    """A QualityMeter on the shipped classifier, with FID/KID on `backbone` when given; with `codes`, scoring
    samples by their codes too (that many: InfoGAN's, or clusters)."""
    return QualityMeter(FeatureExtractor(load_classifier()), conditional, kid_subset_size, backbone, codes)
