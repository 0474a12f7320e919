"""Seeded, per-rank batches of indices: the one sampler every data path shares."""

from collections.abc import Callable

import torch
from torch.utils.data import Sampler

from gan_digits.checks import ConfigError


# Each split's digits, named as a message says them, with the key that sets how many there are.
TRAINING, VALIDATION = ("training", "data.subset"), ("validation", "data.val_size")


def check_batch_fits(num_samples: int, batch_size: int, world_size: int, split: tuple[str, str]) -> None:
    """A ConfigError when each device's shard of `num_samples` digits holds no whole batch; `split` names
    which digits these are and the key that sets how many."""
    if num_samples // world_size < batch_size:
        name, size_key = split
        raise ConfigError(
            f"data.batch_size={batch_size} is larger than the {num_samples // world_size} {name} images "
            f"each of the {world_size} device(s) gets: lower the batch size or raise {size_key}"
        )


class ShardedBatchSampler(Sampler[torch.Tensor]):
    """Yields index tensors of `batch_size` from a fresh permutation each epoch.

    Every rank draws the same permutation (seed + epoch) and keeps its own stride of it, so the
    shards are disjoint and equal in size without any communication. The last incomplete batch is
    dropped: a GAN's BatchNorm layers misbehave on a batch of one.

    `epoch` is asked at the start of each pass (the trainer's `current_epoch`), not pushed through
    `set_epoch`: Lightning's count for that drifts by one when a run resumes, which would reshuffle
    differently from the run it continues. `done` says how many batches of this epoch were already
    trained: a run resumed mid-epoch goes on from there, with the batches it had not seen.
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        epoch: Callable[[], int] = lambda: 0,
        done: Callable[[], int] = lambda: 0,
        split: tuple[str, str] = TRAINING,
    ):
        check_batch_fits(num_samples, batch_size, world_size, split)
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = epoch
        self.done = done

    def __len__(self) -> int:
        return self.num_samples // self.world_size // self.batch_size

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + self.epoch())
        order = torch.randperm(self.num_samples, generator=generator)
        shard = order[self.rank :: self.world_size][: self.num_samples // self.world_size]
        yield from shard[: len(self) * self.batch_size].view(len(self), self.batch_size)[self.done() :]


class DeviceBatchSampler(Sampler[torch.Tensor]):
    """`batches`' index tensors of an epoch, moved to `device` in one copy when the epoch starts.

    Indexing GPU-resident digits with a CPU index copies it from pageable memory, which waits for
    the GPU to finish all queued work: once per batch, that stalled the CPU every step and kept it
    from queuing the next one. Once per epoch costs nothing.
    """

    def __init__(self, batches: ShardedBatchSampler, device: torch.device):
        self.batches = batches
        self.device = device

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        epoch = list(self.batches)
        if epoch:
            yield from torch.stack(epoch).to(self.device)
