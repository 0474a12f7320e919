"""The project's own MNIST classifier: the feature network behind FID, KID and the label metrics.

No Inception weights can be downloaded here, and Inception was never trained on digits anyway: a
small CNN trained on MNIST (99.3%+ test accuracy, `python -m gan_digits.metrics.train_classifier`)
gives features that separate digit shapes. Its weights ship with the package.
"""

import copy
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

WEIGHTS = Path(__file__).with_name("classifier.pt")
FEATURES = 128


def _conv(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class DigitClassifier(nn.Module):
    """uint8 images `(B, 1, 28, 28)` -> 10 digit logits; `features` gives the penultimate layer."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            *_conv(1, 32), *_conv(32, 32), nn.MaxPool2d(2),  # 14x14
            *_conv(32, 64), *_conv(64, 64), nn.MaxPool2d(2),  # 7x7
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, FEATURES, bias=False),
            nn.BatchNorm1d(FEATURES),
            nn.ReLU(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURES, 10)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate activations, float32 even under autocast (the statistics need the precision)."""
        with torch.autocast(images.device.type, enabled=False):
            x = images.float().div(255.0).sub(0.1307).div(0.3081)  # the MNIST mean and std
            return self.body(x)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(images)))


def fold_batch_norms(body: nn.Sequential) -> nn.Sequential:
    """`body` with each BatchNorm folded into the convolution or linear layer before it: the same
    outputs in eval mode (up to float rounding), one pass over the activations less per layer."""
    layers = []
    for layer in body:
        if isinstance(layer, nn.BatchNorm2d):
            layers[-1] = fuse_conv_bn_eval(layers[-1], layer)
        elif isinstance(layer, nn.BatchNorm1d):
            layers[-1] = fuse_linear_bn_eval(layers[-1], layer)
        else:
            layers.append(layer)
    return nn.Sequential(*layers)


class FeatureExtractor(nn.Module):
    """The frozen classifier as torchmetrics' `feature=` module: uint8 images -> features.

    Frozen, so built for inference: a copy with its BatchNorms folded and its convolutions in
    `channels_last` (oneDNN's own layout on a CPU): the same features, 1.5x as fast (docs/speed.md).
    """

    num_features = FEATURES  # read by torchmetrics, which would otherwise probe with a 299x299 image

    def __init__(self, classifier: DigitClassifier):
        super().__init__()
        classifier = copy.deepcopy(classifier).eval().requires_grad_(False)
        classifier.body = fold_batch_norms(classifier.body)
        self.classifier = classifier.to(memory_format=torch.channels_last)

    def train(self, mode: bool = True) -> "FeatureExtractor":
        return super().train(False)  # always eval (no dropout), whoever calls train()

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier.features(images)

    @torch.no_grad()
    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """Digit probabilities from the features `forward` returned."""
        return self.classifier.head(features).softmax(dim=1)


def load_classifier(path: str | Path = WEIGHTS) -> DigitClassifier:
    """The shipped (or a given) classifier, read with `weights_only=True`, in eval mode."""
    classifier = DigitClassifier()
    classifier.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return classifier.eval()
