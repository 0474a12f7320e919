"""The one pixel convention: uint8 0..255 (0 = black background) on disk, [-1, 1] inside the nets."""

import torch


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 images in 0..255 -> float32 in [-1, 1], the range of the generator's tanh."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (any float dtype) -> uint8 0..255, rounded, out-of-range values clipped."""
    return images.float().add(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)
