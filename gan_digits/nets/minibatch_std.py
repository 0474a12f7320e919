"""Minibatch standard deviation (Karras et al., 2018, ProGAN): lets D see how varied a batch is."""

import torch
from torch import nn


class MinibatchStd(nn.Module):
    """Appends one channel: the mean over features of their standard deviation across the batch.

    A generator that draws the same few digits gives batches with a low value, which D learns to
    reject: a cheap push toward variety for unconditional models.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        std = x.float().std(dim=0, unbiased=False).add(1e-8).mean().to(x.dtype)
        return torch.cat([x, std.expand(x.shape[0], 1, *x.shape[2:])], dim=1)
