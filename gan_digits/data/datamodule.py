"""MNIST as a LightningDataModule: decoded once into memory, batches drawn by index."""

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch.utils.data import DataLoader, Dataset
from torchvision.datasets import MNIST, VisionDataset
from torchvision.transforms import PILToTensor

from gan_digits.checks import check_choice, check_int
from gan_digits.data.idx import SPLIT_FILES, MNISTFileError, check_layout, find_idx, load_split, raw_dir
from gan_digits.data.pixels import to_model_range
from gan_digits.data.sampler import TRAINING, VALIDATION, DeviceBatchSampler, ShardedBatchSampler, check_batch_fits


LOADERS = ("memory", "torchvision")


class TensorBatches(Dataset):
    """Images and labels held as tensors; indexed by a whole batch of indices at once.

    Indexing a uint8 tensor with a batch of indices replaces per-sample decoding, PIL conversion
    and collation: on a 2-core CPU it leaves the cores to the networks.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # index_select, not images[index]: advanced indexing of the uint8 digits took ~60 us a batch
        # of 128 on a 2-core CPU, index_select ~4 (0.4% of an MLP GAN step).
        return self.images.index_select(0, index).unsqueeze(1), self.labels.index_select(0, index)


class PerSampleMNIST(MNIST):
    """torchvision's MNIST item path over the tensors we decoded: a PIL image and a transform per
    digit, collated by the DataLoader. `data.loader=torchvision` keeps it one override away, for
    comparing with the way most GAN tutorials feed MNIST."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        VisionDataset.__init__(self, root=None, transform=PILToTensor())  # uint8 out: one scaling path
        self.data, self.targets = images, labels


def remove_if_empty(folders: list[Path]) -> None:
    """Removes `folders`, deepest first, up to the first one that holds something (a file downloaded whole)."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


class MNISTDataModule(L.LightningDataModule):
    """Training digits minus a seeded hold-out for validation; the test split is kept for metrics, read with
    the rest before training (a corrupt or missing test file surfaced at the first validation, an epoch in).

    Batches leave the loader as uint8 and are scaled to [-1, 1] after they reach the device, so the
    host moves a quarter of the bytes.
    """

    def __init__(
        self,
        root: str = "data",
        download: bool = False,
        batch_size: int = 64,
        num_workers: int = 0,
        val_size: int = 5000,
        subset: int | None = None,
        seed: int = 0,
        loader: str = "memory",
    ):
        super().__init__()
        self.root = Path(root)
        self.download = check_choice("data.download", download, (True, False))
        self.batch_size = check_int("data.batch_size", batch_size, 2, why="batch norm needs two digits or more a batch")
        self.num_workers = check_int("data.num_workers", num_workers, 0)
        self.val_size = check_int("data.val_size", val_size, 1, 59_000)
        self.subset = None if subset is None else check_int("data.subset", subset, 1, 60_000 - val_size)
        self.seed = check_int("data.seed", seed, 0)  # ${seed} unless set apart
        self.loader = check_choice("data.loader", loader, LOADERS)
        self.train_set: TensorBatches | None = None
        self.val_set: TensorBatches | None = None
        self.test_set: TensorBatches | None = None

    def _files_present(self) -> bool:
        return all(find_idx(self.root, stem) for stems in SPLIT_FILES.values() for stem in stems)

    def needs_download(self) -> bool:
        """True when the files are absent and `download` allows fetching them."""
        return self.download and not self._files_present()

    def prepare_data(self) -> None:
        """Download with torchvision only when asked to and the files are absent (rank 0 only)."""
        if not self.needs_download():
            return
        check_layout(self.root)  # not a download into a MNIST/raw/MNIST/raw/ of the user's folder
        raw = raw_dir(self.root)
        made = [folder for folder in (raw, *raw.parents) if not folder.exists()]  # deepest first
        try:
            for train in (True, False):
                MNIST(str(self.root), train=train, download=True)
        except Exception as err:  # torchvision raises whatever its mirrors did, over several lines
            remove_if_empty(made)  # offline with a mistyped data.root: no empty folder tree left behind
            said = " ".join(str(err).split())
            raise MNISTFileError(
                f"could not download MNIST into {raw}: {said}. Offline? Put the four IDX files "
                "(gzipped or not) there, or point data.root at a folder holding MNIST/raw/."
            ) from err

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        images, labels = load_split(self.root, "train")
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(self.seed))
        val_idx, train_idx = order[: self.val_size], order[self.val_size :]
        if self.subset is not None:
            train_idx = train_idx[: self.subset]
        self.train_set = TensorBatches(images[train_idx], labels[train_idx])
        self.val_set = TensorBatches(images[val_idx], labels[val_idx])
        self.test_set = TensorBatches(*load_split(self.root, "test"))

    def _loader(self, dataset: TensorBatches, seed: int, split: tuple[str, str], done=lambda: 0) -> DataLoader:
        trainer = self.trainer
        rank, world_size = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
        epoch = (lambda: trainer.current_epoch) if trainer else (lambda: 0)
        sampler = ShardedBatchSampler(len(dataset), self.batch_size, seed, rank, world_size, epoch, done, split)
        common = dict(
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            # Its own generator for the workers' seeds: drawing them from the global RNG would shift
            # the training noise whenever Lightning opens an extra iterator (it does when resuming).
            generator=torch.Generator().manual_seed(seed),
        )
        if self.loader == "torchvision":
            return DataLoader(PerSampleMNIST(dataset.images, dataset.labels), batch_sampler=sampler, **common)
        device = trainer.strategy.root_device if trainer else torch.device("cpu")
        if device.type == "cuda" and self.num_workers == 0:
            # 47 MB for all of MNIST: keep it on the GPU, so a batch is one indexing kernel, no copy.
            dataset = TensorBatches(dataset.images.to(device), dataset.labels.to(device))
            sampler = DeviceBatchSampler(sampler, device)
        return DataLoader(dataset, sampler=sampler, batch_size=None, **common)  # the sampler yields whole batches

    def check_batches_fit(self, trainer: L.Trainer) -> None:
        """A ConfigError when a device's share of the training digits, or of the validation digits where the run
        validates, holds no whole batch. train.py asks before fit, where nothing of the run is written yet."""
        check_batch_fits(len(self.train_set), self.batch_size, trainer.world_size, TRAINING)
        if trainer.limit_val_batches != 0:  # Lightning asks for the validation batches only at the first validation:
            # an epoch of training later, where no sanity check runs (num_sanity_val_steps=0)
            check_batch_fits(len(self.val_set), self.batch_size, trainer.world_size, VALIDATION)

    def train_dataloader(self) -> DataLoader:
        world_size = self.trainer.world_size if self.trainer else 1
        if self.trainer:
            self.check_batches_fit(self.trainer)  # again: a download defers setup() until fit
        if world_size > 1:
            rank_zero_info(f"effective batch size {self.batch_size * world_size} "
                           f"({self.batch_size} per device x {world_size} devices)")
        # Batches of this epoch already trained: non-zero only when resuming mid-epoch.
        done = (lambda: self.trainer.fit_loop.epoch_loop.batch_progress.current.ready) if self.trainer else (lambda: 0)
        return self._loader(self.train_set, self.seed, TRAINING, done)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, self.seed + 1, VALIDATION)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        images, labels = batch
        return to_model_range(images), labels
