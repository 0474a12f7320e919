"""MNIST from its IDX files to batches: reading, sampling, the pixel convention, the DataModule."""

from gan_digits.data.datamodule import MNISTDataModule
from gan_digits.data.idx import MNISTFileError, load_split
from gan_digits.data.pixels import to_model_range, to_uint8

__all__ = ["MNISTDataModule", "MNISTFileError", "load_split", "to_model_range", "to_uint8"]
