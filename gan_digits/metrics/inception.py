"""Inception-v3 features for the standard FID and KID (`metrics.backbone=inception`).

The numbers papers report: torch-fidelity's Inception-v3 (2048 pool features), fed grey digits
repeated to RGB. It needs `pip install -e ".[inception]"` and the weights file, which
torch-fidelity downloads into torch's hub cache on first use; offline, give the file with
`metrics.inception_weights=<path>`. Either missing is a clear error, never a crash mid-run.
"""

import importlib.util
import re
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from gan_digits.checks import UserInputError

WEIGHTS_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_FILE = Path(urlparse(WEIGHTS_URL).path).name
FEATURES = 2048


def _safe_weights_file(path: str | None, prefix: str = "metrics.") -> str:
    """The weights file, downloaded when not given, and checked to hold plain tensors.

    torch-fidelity reads the file with `weights_only=False`; reading it here first with
    `weights_only=True` fails on anything but tensors, so no pickled code ever runs. `prefix`: where the
    settings are, as the command names them (`metrics.` for train.py, none for evaluate).
    """
    try:
        if path is None:
            torch.hub.load_state_dict_from_url(WEIGHTS_URL, map_location="cpu", weights_only=True, progress=False)
            path = str(Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE)
        else:
            torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # no network, a missing, truncated or unsafe file: all say the same fix
        # The first sentence: torch's message runs over lines, and goes on to advise loading unsafely.
        raise _unreadable(path, re.split(r"(?<=\.)\s", str(err).strip(), maxsplit=1)[0].rstrip("."), prefix) from err
    return path


def _unreadable(path: str | None, reason: str, prefix: str) -> UserInputError:
    """The one error for weights that cannot serve, with the fix: the file, or the project's own backbone."""
    where = f"{prefix}inception_weights={path}" if path else f"the download from {WEIGHTS_URL}"
    return UserInputError(
        f"{prefix}backbone=inception: cannot read the Inception weights ({where}): {reason}. Download that file "
        f"where there is network and pass {prefix}inception_weights=<file>, or use {prefix}backbone=classifier"
    )


class InceptionFeatures(nn.Module):
    """uint8 digits `(B, 1, 28, 28)` -> Inception-v3's 2048 pool features (frozen, eval mode)."""

    num_features = FEATURES

    def __init__(self, weights: str | None = None, prefix: str = "metrics."):
        super().__init__()
        if importlib.util.find_spec("torch_fidelity") is None:
            raise UserInputError(
                f"{prefix}backbone=inception needs torch-fidelity: pip install -e \".[inception]\" "
                f"(or use {prefix}backbone=classifier, the default)"
            )
        from torchmetrics.image.fid import NoTrainInceptionV3

        path = _safe_weights_file(weights, prefix)
        try:
            self.net = NoTrainInceptionV3("inception-v3-compat", [str(FEATURES)], path)
        except (RuntimeError, TypeError) as err:  # another network's tensors (train.py's checkpoint), or no mapping
            raise _unreadable(path, f"it does not hold Inception-v3's tensors, which {WEIGHTS_FILE} does", prefix) from err
        self.requires_grad_(False)

    def train(self, mode: bool = True) -> "InceptionFeatures":
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        with torch.autocast(images.device.type, enabled=False):
            return self.net(images.expand(-1, 3, -1, -1))
