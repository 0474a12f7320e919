"""MNIST from its IDX files to batches: reading, sampling, the pixel convention, the DataModule."""

from gan_digits.data.idx import MNISTFileError, load_split
from gan_digits.data.pixels import to_model_range, to_uint8

__all__ = ["MNISTDataModule", "MNISTFileError", "load_split", "to_model_range", "to_uint8"]


def __getattr__(name: str):
    # The DataModule imports Lightning (~1.5 s on a 2-core CPU): only training needs it, so sample.py,
    # the studio and `evaluate`, which read digits with load_split, do not pay for it.
    if name == "MNISTDataModule":
        from gan_digits.data.datamodule import MNISTDataModule

        return MNISTDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
