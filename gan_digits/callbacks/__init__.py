"""Training callbacks that talk to the model contract, never to a model's name."""

from gan_digits.callbacks.quality import QualityMetrics
from gan_digits.callbacks.sample_grid import SampleGrid

__all__ = ["QualityMetrics", "SampleGrid"]
