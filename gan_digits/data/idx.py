"""Read the MNIST IDX files (gzipped or not) into tensors, with errors that name the file.

torchvision's reader wants the files uncompressed under `root/MNIST/raw/` and will write there to
extract them; reading them ourselves works from a read-only folder of `.gz` files and lets us
check every byte count before trusting it.
"""

import gzip
import zlib
from pathlib import Path

import torch

from gan_digits.checks import UserInputError
# The IDX type code for unsigned bytes, the only one MNIST uses.
_UBYTE = 0x08

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SPLIT_SIZES = {"train": 60_000, "test": 10_000}
NUM_DIGITS = 10  # the labels 0..9


class MNISTFileError(UserInputError):
    """A missing, truncated or malformed MNIST file."""


def raw_dir(root: str | Path) -> Path:
    """The folder torchvision's MNIST layout keeps the IDX files in."""
    return Path(root) / "MNIST" / "raw"


def find_idx(root: str | Path, stem: str) -> Path | None:
    """The path of `stem` under `root/MNIST/raw`, plain or `.gz`, or None when neither is there."""
    return _idx_in(raw_dir(root), stem)


def _idx_in(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (path := folder / name).is_file():
            return path
    return None


def check_layout(root: str | Path) -> None:
    """A data folder that is MNIST/raw/ or MNIST/ itself (where the files are, one level too deep), named with
    the folder to give instead: torchvision would download into root/MNIST/raw/ below it."""
    root, stem = Path(root), SPLIT_FILES["train"][0]
    if find_idx(root, stem):
        return
    for folder, layout_root in ((root, root.parent.parent), (root / "raw", root.parent)):
        if _idx_in(folder, stem):
            raise MNISTFileError(
                f"the data folder {root} holds the MNIST files {'itself' if folder == root else 'in raw/'}: point it "
                f"at {layout_root.resolve()}, the folder holding MNIST/raw/ (train.py's data.root, evaluate's data, "
                "sample.py's data_root)"
            )


def read_idx(path: str | Path, expected_shape: tuple[int, ...]) -> torch.Tensor:
    """Decode one IDX file of unsigned bytes into a uint8 tensor of `expected_shape`."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as err:
        raise MNISTFileError(f"cannot read MNIST file {path}: {err} (truncated or corrupt?)") from err

    ndim = len(expected_shape)
    header = 4 + 4 * ndim
    if len(data) < header or data[0] != 0 or data[1] != 0 or data[2] != _UBYTE or data[3] != ndim:
        raise MNISTFileError(
            f"{path} is not an IDX file of unsigned bytes with {ndim} dimension(s) "
            f"(expected magic 00 00 08 {ndim:02x}, got {data[:4].hex(' ') or 'an empty file'})"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if shape != expected_shape:
        raise MNISTFileError(f"{path} holds shape {shape}, expected {expected_shape}")
    size = header + torch.Size(shape).numel()
    if len(data) != size:
        raise MNISTFileError(f"{path} has {len(data)} bytes after decompression, expected {size} for shape {shape} (truncated?)")
    return torch.frombuffer(bytearray(data), dtype=torch.uint8, offset=header).view(shape)


def load_split(root: str | Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images `(N, 28, 28)` uint8 and labels `(N,)` int64 of the `train` or `test` split."""
    images_stem, labels_stem = SPLIT_FILES[split]
    n = SPLIT_SIZES[split]
    paths = []
    for stem in (images_stem, labels_stem):
        path = find_idx(root, stem)
        if path is None:
            check_layout(root)
            raise MNISTFileError(
                f"MNIST file missing: neither {raw_dir(root) / stem} nor its .gz exists. Point the data folder "
                "(train.py's data.root, evaluate's data, sample.py's data_root) at one holding MNIST/raw/ "
                "with the four IDX files, or let train.py fetch them with data.download=true."
            )
        paths.append(path)
    images = read_idx(paths[0], (n, 28, 28))
    labels = read_idx(paths[1], (n,)).long()
    if labels.max() > 9:
        raise MNISTFileError(f"{paths[1]} holds label {int(labels.max())}, expected digits 0-9")
    return images, labels
