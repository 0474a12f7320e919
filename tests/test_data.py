"""The MNIST reader and DataModule: .gz or plain files, a clean split, and clear errors on bad files."""

import gzip
import re
import shutil
from pathlib import Path

import pytest
import torch

from conftest import DATA, compose_train
from gan_digits.checks import ConfigError
from gan_digits.data import MNISTDataModule, MNISTFileError, load_split
from gan_digits.data.sampler import DeviceBatchSampler, ShardedBatchSampler

RAW = DATA / "MNIST" / "raw"


def test_reads_gz_files_into_uint8_tensors():
    images, labels = load_split(DATA, "test")
    assert images.shape == (10_000, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (10_000,) and labels.dtype == torch.int64
    assert set(labels.unique().tolist()) == set(range(10))
    assert images.max() == 255 and images.min() == 0


def _copy_raw(tmp_path, decompress=False):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for src in RAW.glob("*.gz"):
        if decompress:
            with gzip.open(src) as f:
                (raw / src.stem).write_bytes(f.read())
        else:
            shutil.copy(src, raw / src.name)
    return raw


def test_uncompressed_files_read_the_same(tmp_path):
    _copy_raw(tmp_path, decompress=True)
    plain_images, plain_labels = load_split(tmp_path, "test")
    gz_images, gz_labels = load_split(DATA, "test")
    assert torch.equal(plain_images, gz_images) and torch.equal(plain_labels, gz_labels)


def test_truncated_file_names_path_and_expected_size(tmp_path):
    raw = _copy_raw(tmp_path, decompress=True)
    path = raw / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(MNISTFileError, match=r"t10k-images-idx3-ubyte has 5000 bytes .* expected 7840016"):
        load_split(tmp_path, "test")


def test_truncated_gzip_is_reported(tmp_path):
    raw = _copy_raw(tmp_path)
    path = raw / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20_000])
    with pytest.raises(MNISTFileError, match=r"cannot read MNIST file .*t10k-images-idx3-ubyte.gz.*truncated or corrupt"):
        load_split(tmp_path, "test")


def test_wrong_magic_and_wrong_shape_are_reported(tmp_path):
    raw = _copy_raw(tmp_path, decompress=True)
    labels = raw / "t10k-labels-idx1-ubyte"
    (raw / "t10k-images-idx3-ubyte").write_bytes(labels.read_bytes())
    with pytest.raises(MNISTFileError, match=r"not an IDX file of unsigned bytes with 3 dimension"):
        load_split(tmp_path, "test")
    # A training-labels file where the test labels should be: right format, wrong count.
    shutil.copy(raw / "train-labels-idx1-ubyte", labels)
    shutil.copy(raw / "train-images-idx3-ubyte", raw / "t10k-images-idx3-ubyte")
    with pytest.raises(MNISTFileError, match=r"holds shape \(60000, 28, 28\), expected \(10000, 28, 28\)"):
        load_split(tmp_path, "test")


def test_missing_files_without_download_say_what_to_do(tmp_path):
    with pytest.raises(MNISTFileError, match=r"MNIST file missing: .*train-images-idx3-ubyte.*data.download=true"):
        MNISTDataModule(root=str(tmp_path), download=False).setup("fit")


def test_a_data_folder_one_level_too_deep_names_the_folder_to_give_without_downloading_into_it(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for src in RAW.glob("*.gz"):
        (raw / src.name).symlink_to(src.resolve())
    for root, where in ((raw, "itself"), (raw.parent, "in raw/")):
        datamodule = MNISTDataModule(root=str(root), download=True)
        said = f"the data folder {root} holds the MNIST files {where}"
        with pytest.raises(MNISTFileError, match=f"^{re.escape(f'{said}: point it at {tmp_path}, the folder holding')}"):
            datamodule.prepare_data()  # was a download into {root}/MNIST/raw/
        with pytest.raises(MNISTFileError, match=f"^{re.escape(said)}"):
            load_split(root, "test")  # evaluate's and sample.py's data folder
    assert sorted(path.name for path in tmp_path.rglob("*")) == sorted(["MNIST", "raw", *(p.name for p in RAW.glob("*.gz"))])


def offline_after(downloaded: list[str]):
    """torchvision's MNIST as it fails offline: its folder made, the files in `downloaded` fetched whole, then
    its message, one line per mirror tried."""
    def download(root, train, download):
        raw = Path(root) / "MNIST" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for name in downloaded:
            (raw / name).write_bytes(b"whole")
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://a/, got:\n<urlopen error>\n")

    return download


def test_a_failed_download_is_said_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr("gan_digits.data.datamodule.MNIST", offline_after([]))
    with pytest.raises(MNISTFileError) as caught:
        MNISTDataModule(root=str(tmp_path), download=True).prepare_data()
    assert str(caught.value) == (
        f"could not download MNIST into {tmp_path}/MNIST/raw: Error downloading train-images-idx3-ubyte.gz: Tried "
        "https://a/, got: <urlopen error>. Offline? Put the four IDX files (gzipped or not) there, or point data.root "
        "at a folder holding MNIST/raw/.")


def test_a_failed_download_leaves_no_empty_folders_behind_and_keeps_what_it_fetched(tmp_path, monkeypatch):
    """Offline, a mistyped data.root left its whole folder tree behind, empty."""
    monkeypatch.setattr("gan_digits.data.datamodule.MNIST", offline_after([]))
    with pytest.raises(MNISTFileError):
        MNISTDataModule(root=str(tmp_path / "typo" / "data"), download=True).prepare_data()
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "mine").mkdir()  # the user's folder stays, as does a file fetched whole, for the next try
    monkeypatch.setattr("gan_digits.data.datamodule.MNIST", offline_after(["train-images-idx3-ubyte.gz"]))
    with pytest.raises(MNISTFileError):
        MNISTDataModule(root=str(tmp_path / "mine"), download=True).prepare_data()
    assert [path.relative_to(tmp_path).as_posix() for path in sorted(tmp_path.rglob("*"))] == [
        "mine", "mine/MNIST", "mine/MNIST/raw", "mine/MNIST/raw/train-images-idx3-ubyte.gz"]


def test_datamodule_split_subset_and_pixel_range():
    dm = MNISTDataModule(root=str(DATA), batch_size=16, val_size=100, subset=300, seed=1)
    dm.setup("fit")
    assert len(dm.train_set) == 300 and len(dm.val_set) == 100
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (16, 1, 28, 28) and x.dtype == torch.uint8 and y.shape == (16,)
    x, y = dm.on_after_batch_transfer((x, y), 0)
    assert x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1 and x.min() == -1
    # The same seed gives the same split; the hold-out is disjoint from training images.
    dm2 = MNISTDataModule(root=str(DATA), batch_size=16, val_size=100, subset=300, seed=1)
    dm2.setup("fit")
    assert torch.equal(dm.val_set.images, dm2.val_set.images)
    train_rows = {bytes(img.numpy()) for img in dm.train_set.images}
    assert not any(bytes(img.numpy()) in train_rows for img in dm.val_set.images)


@pytest.mark.parametrize("key,value", [("batch_size", 0), ("batch_size", -4), ("num_workers", -1), ("subset", 0)])
def test_bad_datamodule_values_name_the_key(key, value):
    with pytest.raises(ConfigError, match=rf"data.{key}={value} is not allowed: expected an integer"):
        MNISTDataModule(root=str(DATA), **{key: value})


def test_sampler_shards_are_disjoint_and_reshuffle_each_epoch():
    epoch = [0]
    ranks = [ShardedBatchSampler(100, 10, seed=3, rank=r, world_size=2, epoch=lambda: epoch[0]) for r in range(2)]
    first = [torch.cat(list(s)) for s in ranks]
    assert len(ranks[0]) == 5 and all(len(f) == 50 for f in first)
    assert not set(first[0].tolist()) & set(first[1].tolist())
    epoch[0] = 1
    assert not torch.equal(torch.cat(list(ranks[0])), first[0])
    epoch[0] = 0
    assert torch.equal(torch.cat(list(ranks[0])), first[0])
    # Resuming after 2 of the epoch's 5 batches: the other 3, in the same order.
    resumed = ShardedBatchSampler(100, 10, seed=3, rank=0, world_size=2, epoch=lambda: 0, done=lambda: 2)
    assert torch.equal(torch.cat(list(resumed)), first[0][20:])
    # The GPU path moves an epoch's batches in one copy: the same batches (and resume) as the sampler it wraps.
    moved = DeviceBatchSampler(resumed, torch.device("cpu"))
    assert len(moved) == 5 and [b.tolist() for b in moved] == [b.tolist() for b in resumed]


def test_batch_larger_than_shard_is_refused():
    with pytest.raises(ConfigError, match=r"data.batch_size=64 is larger than the 50 training images"):
        ShardedBatchSampler(100, 64, world_size=2)


def test_download_is_a_boolean():
    with pytest.raises(ConfigError, match=r"^data.download='no' is not allowed: expected one of true, false$"):
        MNISTDataModule(root=str(DATA), download="no")  # a string was taken for true


@pytest.mark.parametrize("override, digits", [("data.val_size=16", "16 validation images"),
                                             ("data.subset=16", "16 training images")])
def test_too_few_digits_for_a_batch_are_named_before_anything_is_written(tmp_path, override, digits):
    """Lightning asks for the batches in fit, once the run's logger has written its folder: the validation ones at
    the first validation, which without a sanity check (the tiny run has none) came after an epoch of training."""
    from gan_digits.training import build

    with pytest.raises(ConfigError, match=rf"^data.batch_size=32 is larger than the {digits} each of the 1 device\(s\) "
                                          rf"gets: lower the batch size or raise {override.split('=')[0]}$"):
        build(compose_train("gan", [override], output_dir=tmp_path))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("damage, message", [
    ("missing", r"MNIST file missing: neither .*t10k-images-idx3-ubyte nor its .gz exists"),
    ("truncated", r"cannot read MNIST file .*t10k-labels-idx1-ubyte.gz: .*truncated or corrupt"),
])
def test_a_bad_test_split_is_named_before_anything_is_written(tmp_path, damage, message):
    """The metrics' real digits were first read at the first validation: an epoch of training, then the error and a
    run folder with its logs."""
    from gan_digits.training import train

    raw = _copy_raw(tmp_path / "data")
    if damage == "missing":
        (raw / "t10k-images-idx3-ubyte.gz").unlink()
    else:
        labels = raw / "t10k-labels-idx1-ubyte.gz"
        labels.write_bytes(labels.read_bytes()[:-100])
    run = tmp_path / "run"
    with pytest.raises(MNISTFileError, match=message):
        train(compose_train("gan", [f"data.root={tmp_path / 'data'}", "data.download=false"], output_dir=run))
    assert not run.exists() or list(run.iterdir()) == []
