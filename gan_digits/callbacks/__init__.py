"""Training callbacks that talk to the model contract, never to a model's name."""

from gan_digits.callbacks.divergence import DivergenceError, DivergenceGuard
from gan_digits.callbacks.early_stopping import EarlyStopping
from gan_digits.callbacks.epoch_lines import EpochLines
from gan_digits.callbacks.progress_bar import TQDMProgressBar
from gan_digits.callbacks.quality import QualityMetrics
from gan_digits.callbacks.sample_grid import SampleGrid
from gan_digits.callbacks.stop_on_signal import StopOnSignal

__all__ = ["DivergenceError", "DivergenceGuard", "EarlyStopping", "EpochLines", "QualityMetrics", "SampleGrid",
           "StopOnSignal", "TQDMProgressBar"]
